"""Parameters and FLOPs of the detectors in the given configs (default: every
config under configs/), in training and, for ParNet, deployed form.

FLOPs of the tensor forward (backbone, neck and head; no post-processing) at
the config's test input size, counted by ``mmdet_parnet.utils.complexity``
and printed both ways: G multiply-adds (mmengine's and mmdet's "FLOPs") and
GFLOPs as 2 x multiply-adds (the ParNet and darknet papers' count).

Usage: python tools/analysis_tools/config_complexity.py [CONFIG ...]
"""
import argparse
from pathlib import Path

from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_parnet import switch_to_deploy
from mmdet_parnet.utils.complexity import (TensorForward, count_complexity,
                                           test_input_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*')
    args = parser.parse_args()
    configs = args.configs or sorted(
        str(p) for p in Path('configs').glob('*/*.py')
        if p.parent.name != '_base_')
    init_default_scope('mmdet')
    print('| config | input | params (M) | G multiply-adds | GFLOPs (2 x MACs) '
          '| deployed params (M) | deployed GFLOPs (2 x MACs) |')
    print('|---|---|---|---|---|---|---|')
    for path in configs:
        cfg = Config.fromfile(path)
        cfg.model.backbone.pop('init_cfg', None)  # no pretrained file needed
        model = TensorForward(MODELS.build(cfg.model))
        size = test_input_size(cfg)
        params, macs = count_complexity(model, size)
        if switch_to_deploy(model):
            dep_params, dep_macs = count_complexity(model, size)
            deployed = f'{dep_params:.2f} | {2 * dep_macs:.1f}'
        else:
            deployed = '- | -'
        print(f'| [{Path(path).stem}]({path}) | {size[1]}x{size[0]} | '
              f'{params:.2f} | {macs:.1f} | {2 * macs:.1f} | {deployed} |')


if __name__ == '__main__':
    main()
