"""Bad input gets an error that names the problem and the fix, through the
entry point a user meets it in: a config, a forward pass, a checkpoint, a
training run on a flawed COCO file."""
import json
import re

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdet_parnet.datasets import make_shapes_dataset
from tests.utils import (CONFIG_DIR, DARKNET_TWIN, SHAPES, demo_batch,
                         load_meta, run, tiny_detector, write_tiny_config)

pytestmark = pytest.mark.usefixtures('one_thread')


def test_unknown_arch_through_train_script(tmp_path):
    config = tmp_path / 'bad_arch.py'
    config.write_text(f"_base_ = {str(CONFIG_DIR / SHAPES)!r}\n"
                      "model = dict(backbone=dict(arch='XXL'))\n")
    result = run(['tools/train.py', config, '--work-dir', tmp_path / 'work'],
                 check=False)
    assert result.returncode != 0
    assert 'ValueError' in result.stderr
    assert ("Unknown ParNet arch 'XXL'; valid archs are "
            "['L', 'M', 'S', 'S92', 'XL']") in result.stderr


def test_neck_in_channels_not_matching_backbone():
    # The tiny ParNet gives 16, 32, 32 channels at strides 8, 16, 32.
    model = tiny_detector(neck=dict(in_channels=[16, 32, 64])).eval()
    with pytest.raises(ValueError) as err, torch.no_grad():
        model(**demo_batch(model, (64, 64)), mode='tensor')
    message = str(err.value)
    assert 'expected 64 channels at input 2 (stride 32) but got 32' in message
    assert "set neck.in_channels to match the backbone's out channels" in \
        message


def test_size_not_multiple_of_32_without_pad_size_divisor():
    model = tiny_detector(data_preprocessor=dict(pad_size_divisor=1)).eval()
    with pytest.raises(ValueError, match=r'multiples of 32, got 72x72.*'
                       r'pad_size_divisor=32'), torch.no_grad():
        model(**demo_batch(model, (72, 72)), mode='predict')
    # The configs' pad_size_divisor=32 pads the same image to 96x96.
    model = tiny_detector().eval()
    data = demo_batch(model, (72, 72))
    assert data['inputs'].shape[-2:] == (96, 96)
    with torch.no_grad():
        (result, ) = model(**data, mode='predict')
    assert result.pred_instances.bboxes.shape[1] == 4


@pytest.mark.parametrize('other', ['darknet53-twin', 'resnet18'])
def test_checkpoint_of_another_model(tmp_path, other):
    if other == 'darknet53-twin':  # our own COCO recipe, other backbone
        state = tiny_detector(DARKNET_TWIN).state_dict()
        found = "its keys look like ['backbone.conv1"
    else:  # a plain classification backbone
        state = MODELS.build(dict(type='ResNet', depth=18)).state_dict()
        found = "it has no key starting with 'backbone.'"
    path = tmp_path / f'{other}.pth'
    torch.save(dict(state_dict=state, meta=dict()), path)
    model = tiny_detector(name='yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py')
    with pytest.raises(ValueError) as err:
        load_checkpoint(model, str(path), map_location='cpu')
    message = str(err.value)
    assert 'no weights for the ParNet backbone' in message
    assert 'it is a checkpoint of another model' in message
    assert found in message  # shows what the file holds
    assert 'parnet_official_to_mmdet.py' in message  # and a way out


def _break_coco(data_root):
    """Break the train split: a missing image, a corrupt one and a
    zero-width box. Return the number of images and the annotation file."""
    train = data_root / 'train'
    (train / '000001.jpg').unlink()
    (train / '000002.jpg').write_bytes(b'\xff\xd8 not a jpeg')
    ann_file = data_root / 'annotations' / 'instances_train.json'
    coco = json.loads(ann_file.read_text())
    ann = next(a for a in coco['annotations'] if a['image_id'] == 4)
    ann['bbox'][2] = 0
    ann_file.write_text(json.dumps(coco))
    return len(coco['images']), ann_file


def test_flawed_coco_file_in_a_training_run(tmp_path):
    data_root = tmp_path / 'shapes'
    make_shapes_dataset(str(data_root), num_train=8, num_val=2, num_test=0,
                        img_size=64, seed=0)
    num_images, ann_file = _break_coco(data_root)
    work_dir = tmp_path / 'work'
    config = write_tiny_config(tmp_path, data_root, work_dir)

    # Training skips what is broken, says so, and trains on the rest.
    result = run(['tools/train.py', config, '--cfg-options',
                  'train_cfg.max_epochs=1', 'train_cfg.val_interval=10',
                  'train_dataloader.batch_size=2'])
    output = result.stdout + result.stderr
    assert re.search(
        rf'CheckedCocoDataset: skipped 2 of {num_images} images \(1 missing, '
        r'1 corrupt\) and 1 of \d+ boxes \(1 width or height < 1 px\) in '
        rf'ann_file={re.escape(str(ann_file))}', output), output[-3000:]
    # 6 usable images, 2 per batch: 3 iterations (all 8 would give 4).
    assert load_meta(work_dir / 'epoch_1.pth')['iter'] == 3

    # An unknown category is an error naming the annotation and the fix.
    coco = json.loads(ann_file.read_text())
    coco['annotations'][0]['category_id'] = 99
    ann_file.write_text(json.dumps(coco))
    init_default_scope('mmdet')
    dataset_cfg = Config.fromfile(str(config)).train_dataloader.dataset
    with pytest.raises(ValueError, match=r'annotation \d+ in ann_file=.*'
                       r'has category_id=99, which is not among the '
                       r'categories \[1, 2, 3, 4, 5, 6\]\. Fix the '
                       r'category_id or add the category\.'):
        DATASETS.build(dataset_cfg)
