"""Tests of CheckedCocoDataset: each kind of bad input fails loudly or is
skipped with a logged count, and good data loads as with CocoDataset."""
import json
import logging
import os.path as osp

import cv2
import numpy as np
import pytest
from mmdet.datasets import CocoDataset
from mmengine.logging import MMLogger

from mmdet_parnet.datasets import (SHAPES_CLASSES, CheckedCocoDataset,
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


def _coco():
    """Three 32x32 images, one box each, categories 'a' (1) and 'b' (2)."""
    return dict(
        images=[
            dict(id=i, file_name=f'{i}.png', width=32, height=32)
            for i in (1, 2, 3)
        ],
        annotations=[
            dict(id=i, image_id=i, category_id=1 + i % 2, bbox=[4, 4, 10, 10],
                 area=100, iscrowd=0) for i in (1, 2, 3)
        ],
        categories=[dict(id=1, name='a'), dict(id=2, name='b')])


def _write(root, coco):
    """Write ``coco`` to ``root/ann.json`` and a grey image per entry."""
    (root / 'img').mkdir(exist_ok=True)
    for img in coco['images']:
        cv2.imwrite(
            str(root / 'img' / img['file_name']),
            np.full((img['height'], img['width'], 3), 128, np.uint8))
    (root / 'ann.json').write_text(json.dumps(coco))


def _load(root, dataset=CheckedCocoDataset, **kwargs):
    return dataset(
        data_root=str(root), ann_file='ann.json', data_prefix=dict(img='img/'),
        metainfo=dict(classes=('a', 'b')), pipeline=[], **kwargs)


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
    assert ('skipped 1 of 3 images (1 missing) and 0 of 3 boxes'
            in logged_warnings[0])
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
    assert 'skipped 1 of 3 images (1 corrupt)' in logged_warnings[0]
    assert len(_load(tmp_path, check_images=False)) == 3


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
