"""A COCO dataset that checks its input while loading."""
import io
import json
import logging
import math
from collections import Counter
from typing import Optional, Tuple

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.evaluation import CocoMetric
from mmdet.registry import DATASETS, METRICS
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image, UnidentifiedImageError

# Top-level list of a COCO file -> (what one entry is, the keys it needs).
_REQUIRED_KEYS = dict(
    images=('image', ('id', 'file_name', 'width', 'height')),
    annotations=('annotation',
                 ('id', 'image_id', 'category_id', 'bbox', 'area')),
    categories=('category', ('id', 'name')))
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_EXAMPLES = 5  # skipped images named in the warning


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
      is not a complete, decodable image (with ``check_images=True``: empty,
      not an image, cut short, corrupt) are dropped and counted, and so are
      the boxes they held; a file whose size disagrees with the stored width
      and height is kept and reported.

    The dropped images and boxes are counted in one warning that names the
    first few dropped files, the size disagreements in another; nothing is
    logged for clean data. Evaluate with :class:`CheckedCocoMetric` so that
    the ground truth of the evaluation leaves out the same images and boxes
    (mmdet's ``CocoMetric`` reads the raw annotation file). The checks read
    the annotation file once more than ``CocoDataset`` does. All other
    arguments, among them ``metainfo``, ``data_prefix``, ``filter_cfg``,
    ``test_mode``, ``lazy_init`` and ``backend_args``, work as in
    ``CocoDataset``.

    Args:
        on_missing_image (str): ``'skip'`` to drop images whose file is
            missing, ``'error'`` to raise ``FileNotFoundError``. When no image
            is usable it raises either way, since that means a wrong
            ``data_root`` or ``data_prefix``. Defaults to ``'skip'``.
        check_images (bool): Read every image file to find broken files and
            sizes that disagree with the annotation file: a JPEG or PNG must
            reach its end marker (a file cut short is found without decoding
            it) and is checked from its header (PIL's ``verify()``); any
            other format is decoded in full (see :func:`inspect_image`).
            Defaults to True.

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
        kept, img_skips, skipped = self._check_images(data_list)
        # Boxes that survived their own checks but are lost with their image.
        lost = sum(len(info['instances']) for info, _ in skipped)
        if lost:
            self._box_skips['on skipped images'] += lost
        if img_skips or self._box_skips:
            examples = ', '.join(f'{info["img_path"]} ({why})'
                                 for info, why in skipped[:_EXAMPLES])
            more = len(skipped) - _EXAMPLES
            examples += f' and {more} more' if more > 0 else ''
            hint = ('. CheckedCocoMetric leaves them out of the ground '
                    "truth of the evaluation too (mmdet's CocoMetric reads "
                    'the raw annotation file)' if self.test_mode else '')
            print_log(
                f'CheckedCocoDataset: skipped '
                f'{_count(img_skips, len(data_list), "images")} and '
                f'{_count(self._box_skips, self._num_boxes, "boxes")} in '
                f'ann_file={self.ann_file}'
                + (f'; skipped images: {examples}' if skipped else '')
                + hint,
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
        """Drop the data infos whose image is missing or broken.

        Returns:
            tuple[list[dict], Counter, list[tuple[dict, str]]]: The kept data
            infos, the number of dropped ones per reason, and each dropped
            data info with its reason.
        """
        kept, skipped, resized = [], [], []
        for info in data_list:
            path = info['img_path']
            if not fileio.exists(path, backend_args=self.backend_args):
                skipped.append((info, 'missing'))
                continue
            if self.check_images:
                try:
                    data = fileio.get(path, backend_args=self.backend_args)
                except OSError:
                    skipped.append((info, 'unreadable'))
                    continue
                problem, size = inspect_image(data)
                if problem:
                    skipped.append((info, problem))
                    continue
                if size != (info['width'], info['height']):
                    resized.append(f'{path} is {size[0]}x{size[1]}, not '
                                   f'{info["width"]}x{info["height"]}')
            kept.append(info)

        where = f'ann_file={self.ann_file}'
        skips = Counter(why for _, why in skipped)
        missing = [info['img_path'] for info, why in skipped
                   if why == 'missing']
        if missing and self.on_missing_image == 'error':
            raise FileNotFoundError(
                f'CheckedCocoDataset: {len(missing)} of {len(data_list)} '
                f'images of {where} are missing, e.g. {missing[0]}. Check '
                "data_root and data_prefix, or pass on_missing_image='skip' "
                'to go on without them.')
        if data_list and not kept:
            reasons = ', '.join(f'{n} {why}' for why, n in skips.items())
            raise FileNotFoundError(
                f'CheckedCocoDataset: none of the {len(data_list)} images of '
                f'{where} is usable ({reasons}), e.g. '
                f'{skipped[0][0]["img_path"]}. Check data_root and '
                'data_prefix.')
        for info, why in skipped:
            print_log(f'CheckedCocoDataset: skipping {info["img_path"]}: '
                      f'{IMAGE_PROBLEMS.get(why, why)}', logger='current',
                      level=logging.DEBUG)
        if resized:
            print_log(
                f'CheckedCocoDataset: {len(resized)} of {len(data_list)} '
                f'images differ in size from their width and height in '
                f'{where}, e.g. {resized[0]}',
                logger='current', level=logging.WARNING)
        return kept, skips, skipped


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


_JPEG_SOI = b'\xff\xd8\xff'
_JPEG_EOI = b'\xff\xd9'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_IEND = b'\x00\x00\x00\x00IEND\xaeB`\x82'  # the whole IEND chunk
# JPEG markers without a length field: TEM, RST0-7, SOI.
_JPEG_STANDALONE = {0x01, *range(0xd0, 0xd8), 0xd8}


def _jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG's header segments are all there and an end-of-image
    marker follows its first start-of-scan.

    The segments are walked by their lengths, so that a thumbnail inside
    the EXIF segment (a JPEG of its own, with its own end marker) is not
    taken for the end of the image.
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xff:
            return False
        marker = data[pos + 1]
        if marker == 0xff:  # fill byte
            pos += 1
        elif marker in _JPEG_STANDALONE:
            pos += 2
        elif marker == 0xd9:  # end of image before any scan
            return False
        else:
            length = int.from_bytes(data[pos + 2:pos + 4], 'big')
            if marker == 0xda:  # start of scan: coded data up to the end
                return data.rfind(_JPEG_EOI, pos + 2 + length) >= 0
            pos += 2 + length
    return False


def _ends_complete(data: bytes) -> Optional[bool]:
    """Whether a JPEG or PNG file reaches its end marker (None for other
    formats, which have no such cheap check)."""
    if data.startswith(_JPEG_SOI):
        return _jpeg_complete(data)
    if data.startswith(_PNG_SIGNATURE):
        return data.rfind(_PNG_IEND) >= 0
    return None


#: What each problem :func:`inspect_image` reports means, for messages.
IMAGE_PROBLEMS = {
    'missing': 'the file does not exist',
    'unreadable': 'the file cannot be read',
    'empty': 'the file is empty (0 bytes)',
    'not an image': 'it is not an image file (no known image format)',
    'truncated': 'it is cut short: the image data stops before its end '
                 '(an interrupted copy or download)',
    'corrupt': 'its image data cannot be decoded',
}


def inspect_image(data: bytes) -> Tuple[Optional[str], Optional[tuple]]:
    """Whether ``data``, the bytes of an image file, decode to a complete
    image, and its size as the decoder will see it.

    A JPEG or PNG must reach its end marker (a JPEG's end-of-image after
    its first scan, a PNG's IEND chunk): OpenCV, mmcv's decoder, cannot
    decode one that stops before it, and mmcv then fails inside a data
    loader worker, while the header alone looks fine. A complete one is
    then checked from its header and structure (PIL's ``verify()``, no
    decoding). A file of any other format is decoded in full.

    Args:
        data (bytes): The file's content.

    Returns:
        tuple[str | None, tuple[int, int] | None]: ``(problem, None)`` with a
        key of :data:`IMAGE_PROBLEMS` (``'empty'``, ``'not an image'``,
        ``'truncated'``, ``'corrupt'``), or ``(None, (width, height))`` after
        the EXIF rotation that OpenCV applies.
    """
    if not data:
        return 'empty', None
    complete = _ends_complete(data)
    if complete is False:  # a JPEG or PNG that stops before its end
        return 'truncated', None
    try:
        if complete:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()  # must come first, and leaves img unusable
        with Image.open(io.BytesIO(data)) as img:
            if complete is None:
                img.load()  # no end marker to check: decode in full
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except UnidentifiedImageError:
        return 'not an image', None
    except Exception:  # PIL signals a bad file with many exception types
        return 'corrupt', None
    # OpenCV, mmcv's default decoder, applies the EXIF rotation.
    if orientation in _TRANSPOSED:
        return None, (height, width)
    return None, (width, height)


@METRICS.register_module()
class CheckedCocoMetric(CocoMetric):
    """:class:`~mmdet.evaluation.CocoMetric` whose ground truth is the data
    that :class:`CheckedCocoDataset` keeps.

    ``CocoMetric`` scores against ``ann_file`` as it is, so the images and
    boxes that the dataset skipped stay in its ground truth and count as
    missed: perfect predictions of everything the model was shown score
    below 1. This metric leaves out of the ground truth

    - every box that ``CheckedCocoDataset`` (and mmdet's ``CocoDataset``)
      drops: malformed or non-finite, width or height under 1 px,
      ``area <= 0``, or outside its image;
    - every image that was not evaluated, i.e. that the data loader skipped
      (a missing or broken file), with its boxes;

    and logs what it left out. Everything else (arguments, the COCO
    evaluation itself, the metric names ``coco/bbox_mAP`` ...) is
    ``CocoMetric``'s, and the boxes kept are the file's own (their ``area``
    decides small / medium / large, as in ``CocoMetric``). Without
    ``ann_file`` (ground truth converted from the data samples) it is
    exactly ``CocoMetric``.

    Example:
        >>> val_evaluator = dict(
        ...     type='CheckedCocoMetric',
        ...     ann_file='data/coco/annotations/instances_val2017.json',
        ...     metric='bbox')
    """

    def __init__(self, ann_file: Optional[str] = None, *args, **kwargs):
        super().__init__(ann_file, *args, **kwargs)
        self.ann_file = ann_file
        self._raw_coco = self._coco_api  # None without ann_file

    def compute_metrics(self, results: list) -> dict:
        """Restrict the ground truth to the evaluated images and the boxes
        the dataset keeps, then compute the metrics as ``CocoMetric``."""
        if self._raw_coco is not None:
            self._coco_api, self.img_ids = self._kept_ground_truth(
                {gt['img_id'] for gt, _ in results})
        return super().compute_metrics(results)

    def _kept_ground_truth(self, evaluated: set) -> tuple:
        """A COCO api over the evaluated images and their usable boxes, and
        those images' ids (in the file's order); logs what was left out."""
        raw = self._raw_coco.dataset
        sizes = {img['id']: (img['width'], img['height'])
                 for img in raw['images'] if img['id'] in evaluated}
        counted = None  # the categories evaluated, for the log's counts
        if self.dataset_meta and 'classes' in self.dataset_meta:
            counted = set(self._raw_coco.get_cat_ids(
                cat_names=self.dataset_meta['classes']))
        anns, num_boxes, left_out = [], 0, Counter()
        for ann in raw.get('annotations', []):
            problem = None
            if ann['image_id'] not in sizes:
                problem = 'on images not evaluated'
            elif 'bbox' in ann and 'area' in ann:
                problem = _box_problem(ann, *sizes[ann['image_id']])
            if counted is None or ann.get('category_id') in counted:
                num_boxes += 1
                if problem:
                    left_out[problem] += 1
            if not problem:
                anns.append(ann)
        images = [img for img in raw['images'] if img['id'] in sizes]
        if len(images) < len(raw['images']) or left_out:
            print_log(
                f'CheckedCocoMetric: left out of the ground truth of '
                f'ann_file={self.ann_file}: '
                f'{len(raw["images"]) - len(images)} of {len(raw["images"])}'
                f' images (not evaluated: the data loader skipped them) and '
                f'{_count(left_out, num_boxes, "boxes")}, as '
                'CheckedCocoDataset does',
                logger='current', level=logging.WARNING)
        coco = COCO()
        coco.dataset = dict(raw, images=images, annotations=anns)
        coco.createIndex()
        return coco, [img['id'] for img in images]
