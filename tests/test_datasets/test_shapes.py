"""Tests of the synthetic shapes dataset generator."""
import hashlib
import json
import os
from collections import Counter

import cv2
import pytest

from mmdet_parnet.datasets import SHAPES_CLASSES, make_shapes_dataset

SETTINGS = dict(num_train=20, num_val=4, num_test=4, img_size=128, seed=0)


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    """The small dataset of ``SETTINGS``, generated once for the module."""
    return make_shapes_dataset(tmp_path_factory.mktemp('shapes'), **SETTINGS)


def _load(result, split):
    with open(result[split]['ann_file']) as f:
        return json.load(f)


def _digest(img_dir):
    """One hash of all image files of a folder, in name order."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(img_dir)):
        with open(os.path.join(img_dir, name), 'rb') as f:
            digest.update(name.encode() + f.read())
    return digest.hexdigest()


def test_same_seed_gives_identical_files(shapes, tmp_path):
    again = make_shapes_dataset(tmp_path, **SETTINGS)
    for split in ('train', 'val', 'test'):
        with open(shapes[split]['ann_file'], 'rb') as a, open(
                again[split]['ann_file'], 'rb') as b:
            assert a.read() == b.read()
        assert _digest(shapes[split]['img_dir']) == _digest(
            again[split]['img_dir'])


def test_seed_and_split_change_the_output(shapes, tmp_path):
    other = make_shapes_dataset(tmp_path, **dict(SETTINGS, seed=1))
    assert _load(other, 'train')['annotations'] != _load(
        shapes, 'train')['annotations']
    val, test = _load(shapes, 'val'), _load(shapes, 'test')
    assert val['annotations'] != test['annotations']
    assert _digest(shapes['val']['img_dir']) != _digest(
        shapes['test']['img_dir'])


def test_coco_layout(shapes):
    for split in ('train', 'val', 'test'):
        coco = _load(shapes, split)
        assert len(coco['images']) == SETTINGS[f'num_{split}']
        assert [c['name'] for c in coco['categories']] == list(SHAPES_CLASSES)
        assert [c['id'] for c in coco['categories']] == list(
            range(1, len(SHAPES_CLASSES) + 1))
        ann_ids = [a['id'] for a in coco['annotations']]
        assert len(set(ann_ids)) == len(ann_ids)
        for img in coco['images']:
            assert (img['width'], img['height']) == (128, 128)
            path = os.path.join(shapes[split]['img_dir'], img['file_name'])
            assert cv2.imread(path).shape == (128, 128, 3)


def test_objects(shapes):
    coco = _load(shapes, 'train')
    anns = coco['annotations']
    per_image = Counter(a['image_id'] for a in anns)
    assert set(per_image) == {img['id'] for img in coco['images']}
    assert all(2 <= n <= 8 for n in per_image.values())
    assert len(SHAPES_CLASSES) >= 5
    assert {a['category_id'] for a in anns} == set(
        range(1, len(SHAPES_CLASSES) + 1))
    sides = []
    for a in anns:
        x, y, w, h = a['bbox']
        assert x >= 0 and y >= 0 and x + w <= 128 and y + h <= 128
        assert w >= 1 and h >= 1 and 0 < a['area'] <= w * h
        assert a['iscrowd'] == 0
        sides.append(max(w, h))
    # From about 8 px (less when partly hidden) to half the image.
    assert max(sides) <= 64 + 1
    assert min(sides) <= 12 and max(sides) >= 40


def test_second_call_keeps_the_files(tmp_path):
    settings = dict(SETTINGS, num_train=3, num_val=1, num_test=1)
    first = make_shapes_dataset(tmp_path, **settings)
    files = sorted(p for p in tmp_path.rglob('*') if p.is_file())
    mtimes = [p.stat().st_mtime_ns for p in files]
    second = make_shapes_dataset(tmp_path, **settings)
    assert first['generated'] and not second['generated']
    assert [p.stat().st_mtime_ns for p in files] == mtimes

    third = make_shapes_dataset(tmp_path, **dict(settings, num_train=2))
    assert third['generated']
    assert sorted(os.listdir(third['train']['img_dir'])) == [
        '000000.jpg', '000001.jpg'
    ]


def test_bad_settings_raise(tmp_path):
    with pytest.raises(ValueError, match='img_size'):
        make_shapes_dataset(tmp_path, img_size=32)
    with pytest.raises(ValueError, match='num_val'):
        make_shapes_dataset(tmp_path, num_val=-1)
