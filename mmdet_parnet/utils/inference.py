"""Image inference with mmdet's ``DetInferencer`` on our checkpoints: image
collection from files and folders, skipping (or refusing) unreadable image
files, and deployed-form loading."""
from collections import Counter
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import mmcv
from mmdet.apis import DetInferencer
from mmengine.config import Config

from ..datasets.checked_coco import IMAGE_PROBLEMS, inspect_image
from ..engine import switch_to_deploy
from .checkpoint_errors import load_checkpoint_file

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


class UnreadableImageError(ValueError):
    """An input image file cannot be read (``strict`` inference)."""


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


def image_file_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be run through the detector, or None.

    The file is checked as :class:`~mmdet_parnet.datasets.CheckedCocoDataset`
    checks its images (:func:`~mmdet_parnet.datasets.inspect_image`) and
    then decoded by mmcv, the decoder of the test pipeline.

    Returns:
        str | None: A key of
        :data:`~mmdet_parnet.datasets.IMAGE_PROBLEMS`.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return 'unreadable'
    problem, _ = inspect_image(data)
    if problem is None:
        try:
            decoded = mmcv.imfrombytes(data)
        except Exception:  # noqa: BLE001 - OpenCV raises cv2.error
            decoded = None
        if decoded is None:
            problem = 'corrupt'
    return problem


def split_readable(
    images: Sequence[str],
    strict: bool = False,
    on_skip: Optional[Callable[[str, str], None]] = None
) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Separate the readable image files from the others.

    Args:
        images (Sequence[str]): Image files.
        strict (bool): Raise :class:`UnreadableImageError` at the first
            unreadable file instead of skipping it.
        on_skip (callable, optional): Called with ``(path, problem)`` for
            each skipped file, as it is found.

    Returns:
        tuple[list[str], list[tuple[str, str]]]: The readable files, and the
        skipped ones with their problem (a key of ``IMAGE_PROBLEMS``).
    """
    readable, skipped = [], []
    for path in images:
        problem = image_file_problem(path)
        if problem is None:
            readable.append(path)
            continue
        if strict:
            raise UnreadableImageError(
                f'{path} is not a readable image: {IMAGE_PROBLEMS[problem]} '
                '(--strict stops at the first unreadable file; without it, '
                'unreadable files are skipped and counted)')
        skipped.append((path, problem))
        if on_skip is not None:
            on_skip(path, problem)
    return readable, skipped


def skip_summary(skipped: Sequence[Tuple[str, str]], shown: int = 10) -> str:
    """``'2 unreadable files skipped (1 empty, 1 truncated): a.jpg, b.jpg'``
    (empty when nothing was skipped)."""
    if not skipped:
        return ''
    counts = ', '.join(f'{n} {why}'
                       for why, n in Counter(w for _, w in skipped).items())
    names = ', '.join(path for path, _ in skipped[:shown])
    if len(skipped) > shown:
        names += f' and {len(skipped) - shown} more'
    return (f'{len(skipped)} unreadable file{"s" if len(skipped) > 1 else ""}'
            f' skipped ({counts}): {names}')


def is_deployed_checkpoint(path: str) -> bool:
    """Whether ``path`` was written by ``tools/model_converters/
    parnet_deploy.py`` (deployed ParNet form)."""
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
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
