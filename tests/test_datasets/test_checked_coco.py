"""Tests of CheckedCocoDataset: each kind of bad input fails loudly or is
skipped with a logged count, and good data loads as with CocoDataset; and of
CheckedCocoMetric: the evaluation sees exactly the data the loader kept."""
import json
import logging
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmdet_parnet.datasets import (SHAPES_CLASSES, CheckedCocoDataset,
                                   CheckedCocoMetric, inspect_image,
                                   make_shapes_dataset)

DATA = osp.join(osp.dirname(__file__), '..', '..', 'data')


@pytest.fixture
def logged_warnings():
    """Messages of the logged_warnings logged to the current MMLogger."""
    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def _coco(ext='png'):
    """Three 32x32 images, one box each, categories 'a' (1) and 'b' (2)."""
    return dict(
        images=[
            dict(id=i, file_name=f'{i}.{ext}', width=32, height=32)
            for i in (1, 2, 3)
        ],
        annotations=[
            dict(id=i, image_id=i, category_id=1 + i % 2, bbox=[4, 4, 10, 10],
                 area=100, iscrowd=0) for i in (1, 2, 3)
        ],
        categories=[dict(id=1, name='a'), dict(id=2, name='b')])


def _write(root, coco):
    """Write ``coco`` to ``root/ann.json`` and a noisy image per entry."""
    (root / 'img').mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for img in coco['images']:
        cv2.imwrite(
            str(root / 'img' / img['file_name']),
            rng.integers(0, 256, (img['height'], img['width'], 3), np.uint8))
    (root / 'ann.json').write_text(json.dumps(coco))


def _load(root, dataset=CheckedCocoDataset, **kwargs):
    kwargs.setdefault('pipeline', [])
    return dataset(
        data_root=str(root), ann_file='ann.json', data_prefix=dict(img='img/'),
        metainfo=dict(classes=('a', 'b')), **kwargs)


def _cut(path, keep=2 / 3):
    """Cut the file at ``path`` short, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def _num_boxes(dataset):
    return sum(len(info['instances']) for info in _infos(dataset))


def test_good_data_loads_without_warnings(tmp_path, logged_warnings):
    _write(tmp_path, _coco())
    dataset = _load(tmp_path)
    assert len(dataset) == 3 and _num_boxes(dataset) == 3
    assert _infos(dataset)[0]['instances'][0]['bbox'] == [4, 4, 14, 14]
    assert logged_warnings == []


@pytest.mark.parametrize('text', ['', '{"images": [', '[1, 2]'])
def test_invalid_json_names_the_file(tmp_path, text):
    (tmp_path / 'ann.json').write_text(text)
    with pytest.raises(ValueError, match=r'ann\.json'):
        _load(tmp_path)


def test_missing_ann_file_names_the_file(tmp_path):
    with pytest.raises(OSError, match=r'ann\.json'):
        _load(tmp_path)


def test_lazy_init_checks_at_full_init(tmp_path):
    (tmp_path / 'ann.json').write_text('{')
    dataset = _load(tmp_path, lazy_init=True)
    with pytest.raises(ValueError, match='not valid JSON'):
        dataset.full_init()


def test_unknown_category_raises(tmp_path):
    coco = _coco()
    coco['annotations'][2]['category_id'] = 7
    _write(tmp_path, coco)
    # mmdet's CocoDataset drops the annotation without a word.
    assert _num_boxes(_load(tmp_path, CocoDataset)) == 2
    with pytest.raises(ValueError,
                       match=r'annotation 3 .*category_id=7.*\[1, 2\]'):
        _load(tmp_path)


def test_unknown_image_id_raises(tmp_path):
    coco = _coco()
    coco['annotations'][0]['image_id'] = 9
    _write(tmp_path, coco)
    with pytest.raises(ValueError, match='annotation 1 .*image_id=9'):
        _load(tmp_path)


def test_missing_key_raises(tmp_path):
    coco = _coco()
    del coco['annotations'][1]['area']
    _write(tmp_path, coco)
    with pytest.raises(ValueError, match="annotation .*'area'"):
        _load(tmp_path)


def test_class_name_not_in_file_raises(tmp_path):
    _write(tmp_path, _coco())
    with pytest.raises(ValueError, match=r"\['c'\] of metainfo"):
        CheckedCocoDataset(
            data_root=str(tmp_path), ann_file='ann.json',
            data_prefix=dict(img='img/'), metainfo=dict(classes=('a', 'c')),
            pipeline=[])


def test_bad_boxes_are_skipped_and_counted(tmp_path, logged_warnings):
    coco = _coco()
    bad_boxes = [[4, 4, 0, 10], [4, 4, 10, -3], [4, 4, float('nan'), 10],
                 [40, 4, 10, 10], [4, 4, 0.5, 10]]
    for i, bbox in enumerate(bad_boxes):
        coco['annotations'].append(
            dict(id=10 + i, image_id=1, category_id=1, bbox=bbox, area=50,
                 iscrowd=0))
    coco['annotations'].append(
        dict(id=20, image_id=2, category_id=1, bbox=[1, 1, 5, 5], area=0,
             iscrowd=0))
    _write(tmp_path, coco)
    dataset = _load(tmp_path)
    assert len(dataset) == 3 and _num_boxes(dataset) == 3
    assert len(logged_warnings) == 1
    assert ('skipped 0 of 3 images and 6 of 9 boxes (3 width or height < 1 '
            'px, 1 malformed or non-finite, 1 outside the image, '
            '1 area <= 0) in ann_file=') in logged_warnings[0]


def test_missing_image_is_skipped_or_raises(tmp_path, logged_warnings):
    _write(tmp_path, _coco())
    (tmp_path / 'img' / '2.png').unlink()
    dataset = _load(tmp_path)
    assert [info['img_id'] for info in _infos(dataset)] == [1, 3]
    assert len(logged_warnings) == 1
    # The box of the missing image is lost with it, and counted.
    assert ('skipped 1 of 3 images (1 missing) and 1 of 3 boxes (1 on '
            'skipped images) in ann_file=') in logged_warnings[0]
    assert 'skipped images: ' in logged_warnings[0]
    assert 'img/2.png (missing)' in logged_warnings[0]
    with pytest.raises(FileNotFoundError, match=r'img/2\.png'):
        _load(tmp_path, on_missing_image='error')
    with pytest.raises(ValueError, match='on_missing_image'):
        _load(tmp_path, on_missing_image='ignore')


def test_all_images_missing_raises(tmp_path):
    _write(tmp_path, _coco())
    with pytest.raises(FileNotFoundError,
                       match='none of the 3 images .*3 missing'):
        CheckedCocoDataset(
            data_root=str(tmp_path), ann_file='ann.json',
            data_prefix=dict(img='wrong/'), metainfo=dict(classes=('a', 'b')),
            pipeline=[])


def test_corrupt_image_is_skipped(tmp_path, logged_warnings):
    _write(tmp_path, _coco())
    (tmp_path / 'img' / '3.png').write_bytes(b'not an image')
    dataset = _load(tmp_path)
    assert [info['img_id'] for info in _infos(dataset)] == [1, 2]
    assert 'skipped 1 of 3 images (1 not an image)' in logged_warnings[0]
    assert 'img/3.png (not an image)' in logged_warnings[0]
    assert len(_load(tmp_path, check_images=False)) == 3


LOAD_IMAGE = [dict(type='LoadImageFromFile')]


def test_truncated_jpeg_is_skipped_and_counted(tmp_path, logged_warnings):
    _write(tmp_path, _coco(ext='jpg'))
    _cut(tmp_path / 'img' / '2.jpg')
    # mmdet's CocoDataset keeps it, and the first batch with it fails.
    stock = _load(tmp_path, CocoDataset, pipeline=LOAD_IMAGE)
    assert len(stock) == 3
    with pytest.raises(AssertionError, match='failed to load image'):
        stock[1]
    # The header alone looks fine: the check must see where the data stops.
    dataset = _load(tmp_path, pipeline=LOAD_IMAGE)
    assert [info['img_id'] for info in _infos(dataset)] == [1, 3]
    assert all(dataset[i]['img'].shape == (32, 32, 3) for i in range(2))
    assert len(logged_warnings) == 1
    assert ('skipped 1 of 3 images (1 truncated) and 1 of 3 boxes (1 on '
            'skipped images) in ann_file=') in logged_warnings[0]
    assert 'img/2.jpg (truncated)' in logged_warnings[0]


def test_truncated_png_is_skipped(tmp_path, logged_warnings):
    _write(tmp_path, _coco())
    _cut(tmp_path / 'img' / '1.png', keep=0.9)
    dataset = _load(tmp_path, pipeline=LOAD_IMAGE)
    assert [info['img_id'] for info in _infos(dataset)] == [2, 3]
    assert 'skipped 1 of 3 images (1 truncated)' in logged_warnings[0]


def _jpeg(size=32, seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (size, size, 3),
                                               np.uint8)
    return cv2.imencode('.jpg', img)[1].tobytes()


def test_inspect_image():
    jpeg = _jpeg()
    assert inspect_image(jpeg) == (None, (32, 32))
    assert inspect_image(b'') == ('empty', None)
    assert inspect_image(b'just some text') == ('not an image', None)
    # Cut anywhere: in the header, in the coded data, just before the end.
    for end in (20, len(jpeg) // 2, len(jpeg) - 2):
        assert inspect_image(jpeg[:end]) == ('truncated', None), end
    # Bytes after the end marker (camera trailers) are harmless.
    assert inspect_image(jpeg + b'\x00' * 16 + b'trailer') == (None,
                                                               (32, 32))
    # A segment holding a whole JPEG (a thumbnail, with its own end
    # marker) is not the end of the image.
    thumb = _jpeg(16, seed=1)
    segment = b'\xff\xfe' + (len(thumb) + 2).to_bytes(2, 'big') + thumb
    with_thumb = jpeg[:2] + segment + jpeg[2:]
    assert inspect_image(with_thumb) == (None, (32, 32))
    assert inspect_image(with_thumb[:2 + len(segment) + 10]) == ('truncated',
                                                                None)
    png = cv2.imencode('.png', np.zeros((8, 12, 3), np.uint8))[1].tobytes()
    assert inspect_image(png) == (None, (12, 8))
    assert inspect_image(png[:-12]) == ('truncated', None)  # no IEND
    bmp = cv2.imencode('.bmp', np.zeros((8, 12, 3), np.uint8))[1].tobytes()
    assert inspect_image(bmp) == (None, (12, 8))  # decoded in full
    assert inspect_image(bmp[:len(bmp) // 2]) == ('corrupt', None)


def test_size_mismatch_warns_and_keeps_the_image(tmp_path, logged_warnings):
    _write(tmp_path, _coco())
    cv2.imwrite(str(tmp_path / 'img' / '1.png'),
                np.zeros((32, 40, 3), np.uint8))
    assert len(_load(tmp_path)) == 3
    assert len(logged_warnings) == 1
    assert 'img/1.png is 40x32, not 32x32' in logged_warnings[0]


def test_filter_cfg_and_test_mode(tmp_path):
    coco = _coco()
    coco['annotations'].pop()
    _write(tmp_path, coco)
    filter_cfg = dict(filter_empty_gt=True)
    assert len(_load(tmp_path, filter_cfg=filter_cfg)) == 2
    assert len(_load(tmp_path, filter_cfg=filter_cfg, test_mode=True)) == 3


def test_coco128_loads_as_with_coco_dataset(logged_warnings):
    kwargs = dict(
        data_root=osp.join(DATA, 'coco128'),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'), pipeline=[])
    expected = CocoDataset(**kwargs)
    checked = CheckedCocoDataset(**kwargs)
    assert len(checked) == len(expected) == 128
    assert _infos(checked) == _infos(expected)
    assert _num_boxes(checked) > 900
    assert logged_warnings == []


def test_shapes_dataset_loads_completely(tmp_path, logged_warnings):
    paths = make_shapes_dataset(
        tmp_path, num_train=4, num_val=0, num_test=0, img_size=64)
    dataset = CheckedCocoDataset(
        data_root=str(tmp_path), ann_file=paths['train']['ann_file'],
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=SHAPES_CLASSES), pipeline=[])
    with open(paths['train']['ann_file']) as f:
        num_anns = len(json.load(f)['annotations'])
    assert len(dataset) == 4 and _num_boxes(dataset) == num_anns
    assert logged_warnings == []


# --- CheckedCocoMetric ------------------------------------------------------


def _flawed_coco(root):
    """Four images; the loader skips image 4 (missing file, two boxes), a
    zero-width box and a box outside image 1."""
    coco = _coco()
    coco['images'].append(dict(id=4, file_name='4.png', width=32, height=32))
    coco['annotations'] += [
        dict(id=10, image_id=4, category_id=1, bbox=[2, 2, 8, 8], area=64,
             iscrowd=0),
        dict(id=11, image_id=4, category_id=2, bbox=[12, 12, 8, 8], area=64,
             iscrowd=0),
        dict(id=12, image_id=1, category_id=2, bbox=[20, 20, 0, 6], area=1,
             iscrowd=0),
        dict(id=13, image_id=1, category_id=1, bbox=[40, 40, 6, 6], area=36,
             iscrowd=0),
        dict(id=14, image_id=3, category_id=2, bbox=[16, 2, 12, 9],
             area=108, iscrowd=0),
    ]
    _write(root, coco)
    (root / 'img' / '4.png').unlink()


def _perfect_predictions(dataset):
    """Data samples predicting every box the loader kept, exactly."""
    samples = []
    for info in _infos(dataset):
        boxes = [i for i in info['instances'] if not i['ignore_flag']]
        samples.append(dict(
            img_id=info['img_id'], ori_shape=(info['height'], info['width']),
            pred_instances=dict(
                bboxes=torch.tensor([b['bbox'] for b in boxes],
                                    dtype=torch.float32).reshape(-1, 4),
                scores=torch.ones(len(boxes)),
                labels=torch.tensor([b['bbox_label'] for b in boxes],
                                    dtype=torch.long))))
    return samples


def _map(metric, dataset):
    metric.dataset_meta = dataset.metainfo
    metric.process({}, _perfect_predictions(dataset))
    return metric.evaluate(len(dataset))['coco/bbox_mAP']


def test_perfect_predictions_of_kept_data_score_1(tmp_path, logged_warnings):
    _flawed_coco(tmp_path)
    dataset = _load(tmp_path, test_mode=True)
    assert len(dataset) == 3 and _num_boxes(dataset) == 4
    # Every lost box is counted: 2 with the missing image, 2 bad ones.
    assert ('skipped 1 of 4 images (1 missing) and 4 of 8 boxes (1 width or '
            'height < 1 px, 1 outside the image, 2 on skipped images)'
            ) in logged_warnings[0]
    assert 'CheckedCocoMetric leaves them out' in logged_warnings[0]
    ann_file = str(tmp_path / 'ann.json')
    # mmdet's CocoMetric scores the raw file: what was skipped counts as
    # missed.
    assert _map(CocoMetric(ann_file=ann_file), dataset) < 0.9
    metric = CheckedCocoMetric(ann_file=ann_file)
    assert _map(metric, dataset) == 1.0
    assert ('CheckedCocoMetric: left out of the ground truth of ann_file='
            f'{ann_file}: 1 of 4 images (not evaluated: the data loader '
            'skipped them) and 4 of 8 boxes') in logged_warnings[-1]
    # Again, as at the next validation epoch.
    assert _map(metric, dataset) == 1.0


def test_metric_on_clean_data_is_coco_metric(tmp_path, logged_warnings):
    coco = _coco()
    coco['annotations'].append(
        dict(id=9, image_id=2, category_id=1, bbox=[20, 18, 9, 12],
             area=108, iscrowd=0))
    _write(tmp_path, coco)
    dataset = _load(tmp_path, test_mode=True)
    ann_file = str(tmp_path / 'ann.json')
    samples = _perfect_predictions(dataset)
    samples[1]['pred_instances']['bboxes'][0] += 3  # one imperfect box
    results = []
    for metric in (CocoMetric(ann_file=ann_file),
                   CheckedCocoMetric(ann_file=ann_file)):
        metric.dataset_meta = dataset.metainfo
        metric.process({}, samples)
        results.append(metric.evaluate(len(dataset)))
    assert results[0] == results[1]
    assert results[0]['coco/bbox_mAP'] < 1.0
    assert logged_warnings == []


def test_metric_builds_from_a_config(tmp_path):
    _write(tmp_path, _coco())
    init_default_scope('mmdet')
    metric = METRICS.build(dict(type='CheckedCocoMetric',
                                ann_file=str(tmp_path / 'ann.json'),
                                metric='bbox'))
    assert isinstance(metric, CheckedCocoMetric)
