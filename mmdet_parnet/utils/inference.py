"""Image inference with mmdet's ``DetInferencer`` on our checkpoints: image
collection from files and folders, and deployed-form loading."""
from pathlib import Path
from typing import List, Sequence

import torch
from mmdet.apis import DetInferencer
from mmengine.config import Config

from ..engine import switch_to_deploy

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def collect_images(inputs: Sequence[str]) -> List[str]:
    """Image files named in ``inputs``, or found in the folders it names."""
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
    """Whether ``path`` was written by ``tools/model_converters/
    parnet_deploy.py`` (deployed ParNet form)."""
    meta = torch.load(path, map_location='cpu', weights_only=True).get(
        'meta', {})
    return bool(meta.get('parnet_deployed'))


def build_inferencer(config: str, weights: str, deploy: bool = False,
                     device: str = 'cpu') -> DetInferencer:
    """A ``DetInferencer`` on ``weights``, in deployed form if asked for or
    if the checkpoint already is."""
    cfg = Config.fromfile(config)
    if is_deployed_checkpoint(weights):
        cfg.model.backbone.deploy = True
    inferencer = DetInferencer(model=cfg, weights=weights, device=device)
    if deploy:
        switch_to_deploy(inferencer.model)
    return inferencer
