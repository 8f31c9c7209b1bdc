"""Run a detector on images: annotated images and JSON predictions out.

Wraps ``mmdet.apis.DetInferencer``. A checkpoint written by
``tools/model_converters/parnet_deploy.py`` is recognised and loaded into the
deployed network; ``--deploy`` switches a training-form checkpoint to the
deployed form after loading.

Usage:
    python tools/infer.py INPUTS... --config CONFIG --weights CKPT
        [--out-dir outputs/infer] [--score-thr 0.3] [--deploy]

``INPUTS`` are image files or folders. Writes ``OUT_DIR/vis/<image>`` and
``OUT_DIR/preds/<image>.json`` (boxes xyxy in pixels, labels, scores).
"""
import argparse
from pathlib import Path

import torch
from mmdet.apis import DetInferencer
from mmengine.config import Config

import mmdet_parnet  # noqa: F401  (registers the modules)
from mmdet_parnet import switch_to_deploy

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def collect_images(inputs) -> list:
    """Image files named on the command line, or found in named folders."""
    images = []
    for item in map(Path, inputs):
        if item.is_dir():
            images += sorted(p for p in item.iterdir()
                             if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            images.append(item)
        else:
            raise FileNotFoundError(f'{item} is neither an image nor a folder')
    if not images:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) '
                                f'in {list(inputs)}')
    return [str(p) for p in images]


def is_deployed_checkpoint(path: str) -> bool:
    meta = torch.load(path, map_location='cpu', weights_only=True).get(
        'meta', {})
    return bool(meta.get('parnet_deployed'))


def build_inferencer(config: str, weights: str, deploy: bool,
                     device: str = 'cpu') -> DetInferencer:
    """A DetInferencer on ``weights``, in deployed form if asked for or if
    the checkpoint already is."""
    cfg = Config.fromfile(config)
    if is_deployed_checkpoint(weights):
        cfg.model.backbone.deploy = True
    inferencer = DetInferencer(model=cfg, weights=weights, device=device)
    if deploy:
        switch_to_deploy(inferencer.model)
    return inferencer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('inputs', nargs='+', help='images or folders')
    parser.add_argument('--config', required=True)
    parser.add_argument('--weights', required=True, help='checkpoint')
    parser.add_argument('--out-dir', default='outputs/infer')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--deploy', action='store_true',
                        help='switch the ParNet backbone to its deployed form')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    images = collect_images(args.inputs)
    inferencer = build_inferencer(args.config, args.weights, args.deploy,
                                  args.device)
    inferencer(images, out_dir=args.out_dir, pred_score_thr=args.score_thr,
               batch_size=args.batch_size, no_save_pred=False)
    print(f'{len(images)} images: annotated images in {args.out_dir}/vis, '
          f'predictions in {args.out_dir}/preds')


if __name__ == '__main__':
    main()
