"""Parameters and FLOPs of the detectors in the given configs (default: every
config under configs/), in training and, for ParNet, deployed form.

FLOPs are counted by mmengine's ``FlopAnalyzer`` on the tensor forward
(backbone, neck and head convolutions, BN, pooling; no post-processing) at the
config's test input size, and printed both ways: G multiply-adds (mmengine's
and mmdet's "FLOPs") and GFLOPs as 2 x multiply-adds (the ParNet and darknet
papers' count).

Usage: python tools/analysis_tools/config_complexity.py [CONFIG ...]
"""
import argparse
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet_parnet  # noqa: F401  (registers the modules)
from mmdet_parnet import switch_to_deploy

REPO = Path(__file__).resolve().parents[2]


def test_input_size(cfg: Config) -> tuple:
    """(height, width) of the test pipeline's Resize scale."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            width, height = step['scale']
            return height, width
    raise ValueError('the test pipeline has no Resize step')


def count(model, size) -> tuple:
    """(params in M, G multiply-adds) of the tensor forward."""
    params = sum(p.numel() for p in model.parameters()) / 1e6

    class Tensor(torch.nn.Module):

        def __init__(self, detector):
            super().__init__()
            self.detector = detector

        def forward(self, x):
            return self.detector(x, mode='tensor')

    analyzer = FlopAnalyzer(Tensor(model), torch.zeros(1, 3, *size))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return params, analyzer.total() / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*')
    args = parser.parse_args()
    configs = args.configs or sorted(
        str(p.relative_to(REPO)) for p in (REPO / 'configs').glob('*/*.py'))
    init_default_scope('mmdet')
    torch.set_grad_enabled(False)
    print('| config | input | params (M) | G multiply-adds | GFLOPs (2 x MACs) '
          '| deployed params (M) | deployed GFLOPs (2 x MACs) |')
    print('|---|---|---|---|---|---|---|')
    for path in configs:
        cfg = Config.fromfile(path)
        cfg.model.backbone.pop('init_cfg', None)  # no pretrained file needed
        model = MODELS.build(cfg.model).eval()
        size = test_input_size(cfg)
        params, macs = count(model, size)
        if switch_to_deploy(model):
            dep_params, dep_macs = count(model, size)
            deployed = f'{dep_params:.2f} | {2 * dep_macs:.1f}'
        else:
            deployed = '- | -'
        print(f'| [{Path(path).stem}]({path}) | {size[1]}x{size[0]} | '
              f'{params:.2f} | {macs:.1f} | {2 * macs:.1f} | {deployed} |')


if __name__ == '__main__':
    main()
