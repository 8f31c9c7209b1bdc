"""Convert a trained detector checkpoint (training form) into its deployed
form: every ParNet block's 3x3 and 1x1 branches fused into one 3x3 conv.

Load the result with the same config and ``backbone.deploy=True``, e.g.
``tools/test.py CONFIG DEPLOYED --cfg-options model.backbone.deploy=True``
(``tools/infer.py`` sets it by itself).

Usage: python tools/model_converters/parnet_deploy.py CONFIG CHECKPOINT OUT
"""
import argparse
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mmdet_parnet  # noqa: F401  (registers the modules)
from mmdet_parnet import switch_to_deploy
from mmdet_parnet.utils.checkpoint_errors import CheckpointLoadError


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a checkpoint in training form')
    parser.add_argument('out', help='where to write the deployed checkpoint')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    # The detector builds its data preprocessor through mmengine's registry,
    # which finds mmdet's classes only inside mmdet's scope.
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    try:
        checkpoint = load_checkpoint(model, args.checkpoint,
                                     map_location='cpu', strict=True)
    except CheckpointLoadError as err:  # not a checkpoint: name it, no trace
        raise SystemExit(f'error: {err}')
    if not switch_to_deploy(model):
        raise SystemExit(f'{args.config} has no re-parameterisable module '
                         f'(no ParNet backbone): nothing to deploy')
    meta = dict(checkpoint.get('meta', {}), parnet_deployed=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), args.out)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f'Wrote the deployed model ({params:.2f}M parameters) to '
          f'{args.out}; load it with model.backbone.deploy=True.')


if __name__ == '__main__':
    main()
