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
from mmdet_parnet.utils.mmdet_tools import mmdet_tool
from tests.utils import (CONFIG_DIR, DARKNET_TWIN, SHAPES, demo_batch,
                         load_meta, reported_map, run, tiny_detector,
                         write_tiny_config)

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
    """Break the train split: a missing image, a file that is not an image,
    a JPEG cut short and a zero-width box. Return the number of images, of
    boxes, of boxes on the broken images, and the annotation file."""
    train = data_root / 'train'
    (train / '000001.jpg').unlink()
    (train / '000002.jpg').write_bytes(b'\xff\xd8 not a jpeg')
    jpeg = (train / '000003.jpg').read_bytes()
    (train / '000003.jpg').write_bytes(jpeg[:len(jpeg) * 2 // 3])
    ann_file = data_root / 'annotations' / 'instances_train.json'
    coco = json.loads(ann_file.read_text())
    broken = {img['id'] for img in coco['images'] if img['file_name'] in
              ('000001.jpg', '000002.jpg', '000003.jpg')}
    ann = next(a for a in coco['annotations'] if a['image_id'] not in broken)
    ann['bbox'][2] = 0
    ann_file.write_text(json.dumps(coco))
    on_broken = sum(a['image_id'] in broken for a in coco['annotations'])
    return (len(coco['images']), len(coco['annotations']), on_broken,
            ann_file)


def test_flawed_coco_file_in_a_training_run(tmp_path):
    data_root = tmp_path / 'shapes'
    make_shapes_dataset(str(data_root), num_train=8, num_val=2, num_test=0,
                        img_size=64, seed=0)
    num_images, num_boxes, on_broken, ann_file = _break_coco(data_root)
    work_dir = tmp_path / 'work'
    config = write_tiny_config(tmp_path, data_root, work_dir)

    # Training skips what is broken (the JPEG cut short too, which mmdet's
    # decoder would fail on at its first batch), says so, naming the files,
    # and trains on the rest. Every lost box is counted, those lost with
    # their image too.
    result = run(['tools/train.py', config, '--cfg-options',
                  'train_cfg.max_epochs=1', 'train_cfg.val_interval=10',
                  'train_dataloader.batch_size=2'])
    output = result.stdout + result.stderr
    assert re.search(
        rf'CheckedCocoDataset: skipped 3 of {num_images} images \(1 missing, '
        rf'1 not an image, 1 truncated\) and {on_broken + 1} of {num_boxes} '
        rf'boxes \(1 width or height < 1 px, {on_broken} on skipped images\) '
        rf'in ann_file={re.escape(str(ann_file))}; skipped images: '
        r'\S+/000001\.jpg \(missing\), \S+/000002\.jpg \(not an image\), '
        r'\S+/000003\.jpg \(truncated\)', output), output[-3000:]
    # 5 usable images, 2 per batch: 3 iterations (all 8 would give 4).
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


def test_flawed_test_split_through_mmdet_test_script(tmp_path):
    """mmdet's own tools/test.py with CheckedCocoMetric: the evaluation
    leaves out what the loader skipped (perfect predictions of what it kept
    score 1.0: tests/test_datasets/test_checked_coco.py)."""
    data_root = tmp_path / 'shapes'
    make_shapes_dataset(str(data_root), num_train=0, num_val=0, num_test=4,
                        img_size=64, seed=0)
    jpeg = (data_root / 'test' / '000001.jpg').read_bytes()
    (data_root / 'test' / '000001.jpg').write_bytes(jpeg[:len(jpeg) // 2])
    ann_file = data_root / 'annotations' / 'instances_test.json'
    coco = json.loads(ann_file.read_text())
    img_id = next(img['id'] for img in coco['images']
                  if img['file_name'] == '000001.jpg')
    lost = sum(a['image_id'] == img_id for a in coco['annotations'])
    config = write_tiny_config(
        tmp_path, data_root, tmp_path / 'work',
        extra='test_evaluator = dict(type="CheckedCocoMetric", '
        f'ann_file={str(ann_file)!r}, metric="bbox")')
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(str(config)).model)
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    result = run([mmdet_tool('test.py'), config, ckpt, '--work-dir',
                  tmp_path / 'test'])
    output = result.stdout + result.stderr
    assert (f'CheckedCocoMetric: left out of the ground truth of ann_file='
            f'{ann_file}: 1 of 4 images (not evaluated: the data loader '
            f'skipped them) and {lost} of {len(coco["annotations"])} boxes '
            f'({lost} on images not evaluated)') in output, output[-3000:]
    assert 0 <= reported_map(output) <= 1
