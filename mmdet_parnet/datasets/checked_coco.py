"""A COCO dataset that checks its input while loading."""
import io
import json
import logging
import math
from collections import Counter

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image

# Top-level list of a COCO file -> (what one entry is, the keys it needs).
_REQUIRED_KEYS = dict(
    images=('image', ('id', 'file_name', 'width', 'height')),
    annotations=('annotation',
                 ('id', 'image_id', 'category_id', 'bbox', 'area')),
    categories=('category', ('id', 'name')))
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """:class:`~mmdet.datasets.CocoDataset` that never loses data silently.

    mmdet's ``CocoDataset`` drops annotations of unknown categories and boxes
    under 1 px without a word, and fails deep inside a data loader worker on a
    missing or corrupt image. This class checks the annotation file and the
    images once, at load time, and then behaves exactly like ``CocoDataset``:

    - an unreadable or invalid annotation file, an entry missing a required
      key, an annotation whose ``category_id`` or ``image_id`` is not in the
      file, or a class name of ``metainfo`` that the file lacks raises an
      error naming the file and the offending entry;
    - boxes that ``CocoDataset`` would drop (non-finite or malformed values,
      width or height under 1 px, ``area <= 0``, no overlap with the image)
      are dropped and counted (annotations of classes left out of
      ``metainfo`` or marked ``ignore`` are dropped too, but not counted);
    - images whose file is missing (unless ``on_missing_image='error'``) or
      cannot be decoded (with ``check_images=True``) are dropped and counted;
      a file whose size disagrees with the stored width and height is kept
      and reported.

    The dropped images and boxes are counted in one warning, the size
    disagreements in another; nothing is logged for clean data. The checks
    read the annotation file once more than ``CocoDataset`` does. All other
    arguments, among them ``metainfo``,
    ``data_prefix``, ``filter_cfg``, ``test_mode``, ``lazy_init`` and
    ``backend_args``, work as in ``CocoDataset``.

    Args:
        on_missing_image (str): ``'skip'`` to drop images whose file is
            missing, ``'error'`` to raise ``FileNotFoundError``. When no image
            is usable it raises either way, since that means a wrong
            ``data_root`` or ``data_prefix``. Defaults to ``'skip'``.
        check_images (bool): Open every image file (header and PIL's
            ``verify()``, no full decoding) to find corrupt files and sizes
            that disagree with the annotation file. Defaults to True.

    Example:
        >>> from mmdet_parnet.datasets import CheckedCocoDataset
        >>> ds = CheckedCocoDataset(
        ...     data_root='data/coco128/',
        ...     ann_file='annotations/instances_train.json',
        ...     data_prefix=dict(img='images/'), pipeline=[])
        >>> len(ds)
        128
    """

    def __init__(self, *args, on_missing_image='skip', check_images=True,
                 **kwargs):
        if on_missing_image not in ('skip', 'error'):
            raise ValueError("on_missing_image must be 'skip' or 'error', "
                             f'got {on_missing_image!r}.')
        self.on_missing_image = on_missing_image
        self.check_images = check_images
        super().__init__(*args, **kwargs)

    def load_data_list(self):
        """Check the annotation file, load it as ``CocoDataset`` does, drop
        bad boxes and images, and log what was dropped.

        Returns:
            list[dict]: The parsed data infos of the usable images.
        """
        self._check_ann_file()
        self._box_skips = Counter()
        self._num_boxes = 0
        data_list = super().load_data_list()
        kept, img_skips = self._check_images(data_list)
        if img_skips or self._box_skips:
            print_log(
                f'CheckedCocoDataset: skipped '
                f'{_count(img_skips, len(data_list), "images")} and '
                f'{_count(self._box_skips, self._num_boxes, "boxes")} in '
                f'ann_file={self.ann_file}',
                logger='current', level=logging.WARNING)
        return kept

    def parse_data_info(self, raw_data_info):
        """Drop and count the boxes that ``CocoDataset`` would drop silently,
        then parse the image as ``CocoDataset`` does.

        Annotations of classes outside ``metainfo['classes']`` and those
        marked ``ignore`` are dropped without counting, as wanted.

        Args:
            raw_data_info (dict): ``raw_img_info`` and ``raw_ann_info`` of
                one image.

        Returns:
            dict: The parsed data info of the image.
        """
        img_info = raw_data_info['raw_img_info']
        kept = []
        for ann in raw_data_info['raw_ann_info']:
            if ann['category_id'] not in self.cat_ids or ann.get(
                    'ignore', False):
                continue  # CocoDataset drops these on purpose
            self._num_boxes += 1
            problem = _box_problem(ann, img_info['width'], img_info['height'])
            if problem:
                self._box_skips[problem] += 1
            else:
                kept.append(ann)
        return super().parse_data_info(dict(raw_data_info, raw_ann_info=kept))

    def _check_ann_file(self):
        """Raise a clear error for an annotation file that would fail or
        lose data later."""
        where = f'ann_file={self.ann_file}'
        try:
            with fileio.get_local_path(
                    self.ann_file, backend_args=self.backend_args) as path:
                with open(path) as f:
                    coco = json.load(f)
        except OSError as e:
            raise OSError(f'CheckedCocoDataset: cannot read {where}: {e}. '
                          'Check data_root and ann_file.') from e
        except ValueError as e:
            raise ValueError(
                f'CheckedCocoDataset: {where} is not valid JSON: {e}.') from e
        if not isinstance(coco, dict) or not all(
                isinstance(coco.get(key), list) for key in _REQUIRED_KEYS):
            raise ValueError(
                f'CheckedCocoDataset: {where} is not a COCO annotation file: '
                f'it needs the lists {tuple(_REQUIRED_KEYS)}.')
        for key, (kind, keys) in _REQUIRED_KEYS.items():
            for entry in coco[key]:
                if not isinstance(entry, dict) or not all(k in entry
                                                          for k in keys):
                    raise ValueError(
                        f'CheckedCocoDataset: an {kind} in {where} lacks one '
                        f'of the required keys {keys}: {str(entry)[:200]}')

        cat_ids = {cat['id'] for cat in coco['categories']}
        img_ids = {img['id'] for img in coco['images']}
        for ann in coco['annotations']:
            if ann['category_id'] not in cat_ids:
                raise ValueError(
                    f'CheckedCocoDataset: annotation {ann["id"]} in {where} '
                    f'has category_id={ann["category_id"]}, which is not '
                    f'among the categories {sorted(cat_ids)}. Fix the '
                    'category_id or add the category.')
            if ann['image_id'] not in img_ids:
                raise ValueError(
                    f'CheckedCocoDataset: annotation {ann["id"]} in {where} '
                    f'has image_id={ann["image_id"]}, which is not among the '
                    'images. Fix the image_id or add the image.')
        names = {cat['name'] for cat in coco['categories']}
        unknown = [c for c in self.metainfo['classes'] if c not in names]
        if unknown:
            raise ValueError(
                f'CheckedCocoDataset: the classes {unknown} of metainfo are '
                f'not among the category names {sorted(names)} of {where}. '
                'Set metainfo=dict(classes=...) to names from the file.')

    def _check_images(self, data_list):
        """Drop the data infos whose image is missing or corrupt.

        Returns:
            tuple[list[dict], Counter]: The kept data infos and the number of
            dropped ones per reason.
        """
        kept, missing, corrupt, resized = [], [], [], []
        for info in data_list:
            path = info['img_path']
            if not fileio.exists(path, backend_args=self.backend_args):
                missing.append(path)
                continue
            if self.check_images:
                size = _image_size(path, self.backend_args)
                if size is None:
                    corrupt.append(path)
                    continue
                if size != (info['width'], info['height']):
                    resized.append(f'{path} is {size[0]}x{size[1]}, not '
                                   f'{info["width"]}x{info["height"]}')
            kept.append(info)

        where = f'ann_file={self.ann_file}'
        if missing and self.on_missing_image == 'error':
            raise FileNotFoundError(
                f'CheckedCocoDataset: {len(missing)} of {len(data_list)} '
                f'images of {where} are missing, e.g. {missing[0]}. Check '
                "data_root and data_prefix, or pass on_missing_image='skip' "
                'to go on without them.')
        if data_list and not kept:
            raise FileNotFoundError(
                f'CheckedCocoDataset: none of the {len(data_list)} images of '
                f'{where} is usable ({len(missing)} missing, {len(corrupt)} '
                f'corrupt), e.g. {(missing + corrupt)[0]}. Check data_root '
                'and data_prefix.')
        for path in missing + corrupt:
            print_log(f'CheckedCocoDataset: skipping {path}', logger='current',
                      level=logging.DEBUG)
        if resized:
            print_log(
                f'CheckedCocoDataset: {len(resized)} of {len(data_list)} '
                f'images differ in size from their width and height in '
                f'{where}, e.g. {resized[0]}',
                logger='current', level=logging.WARNING)
        skips = Counter(missing=len(missing), corrupt=len(corrupt))
        return kept, +skips  # unary + drops the zero counts


def _count(skips, total, what):
    """``'3 of 940 boxes (2 outside the image, 1 area <= 0)'``."""
    reasons = ', '.join(f'{n} {why}' for why, n in skips.items())
    return f'{sum(skips.values())} of {total} {what}' + (
        f' ({reasons})' if reasons else '')


def _box_problem(ann, width, height):
    """Why ``CocoDataset`` would drop this annotation's box, or None.

    Args:
        ann (dict): A COCO annotation with ``bbox`` and ``area``.
        width (int): Width of its image.
        height (int): Height of its image.

    Returns:
        str | None: A short reason, used as a count's label in the log.
    """
    bbox = ann['bbox']
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(
            isinstance(v, (int, float)) and math.isfinite(v)
            for v in (*bbox, ann['area']))):
        return 'malformed or non-finite'
    x, y, w, h = bbox
    if w < 1 or h < 1:
        return 'width or height < 1 px'
    if ann['area'] <= 0:
        return 'area <= 0'
    if min(x + w, width) <= max(x, 0) or min(y + h, height) <= max(y, 0):
        return 'outside the image'
    return None


def _image_size(path, backend_args):
    """``(width, height)`` of an image file as it will be decoded, or None if
    the file is not a readable image."""
    try:
        data = fileio.get(path, backend_args=backend_args)
        with Image.open(io.BytesIO(data)) as img:
            img.verify()  # must come first, and leaves img unusable
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # PIL signals a bad file with many exception types
        return None
    # OpenCV, mmcv's default decoder, applies the EXIF rotation.
    if orientation in _TRANSPOSED:
        return height, width
    return width, height
