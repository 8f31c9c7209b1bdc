"""Helpers shared by the tests: paths, configs at tiny widths, subprocess
runs of the tools, and the small grid the head tests use."""
import copy
import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet_parnet  # noqa: F401  (registers the modules)
from mmdet_parnet.models import YOLOV4_ANCHORS

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CONFIGS_ROOT = REPO / 'configs'
CONFIG_DIR = CONFIGS_ROOT / 'yolov4'
SHAPES = 'yolov4_parnet-s_pafpn-csp_1xb8-256-6e_shapes.py'
SHAPES_CONFIG = CONFIG_DIR / SHAPES
DARKNET_TWIN = 'yolov4_darknet53_pafpn-csp_8xb16-300e_coco.py'
#: The head benchmark's baseline (mmdet's YOLOv3 neck and head), by its path
#: under configs/.
YOLOV3_BASELINE = 'yolov3/yolov3_parnet-s_1xb8-256-6e_shapes.py'

# --- configs at tiny widths -------------------------------------------------

#: Tiny ParNet: taps (2, 5, 6) give 16, 32 and 32 channels.
TINY_ARCH = dict(widths=(8, 16, 32, 32), num_blocks=(1, 1, 1))
TINY_NECK_IN = [16, 32, 32]
TINY_NECK_OUT = [8, 16, 32]
TINY_HEAD_OUT = [16, 32, 64]


def load_config(name: str) -> Config:
    """A config by its file name in configs/yolov4/, or by its path under
    configs/ (``'yolov3/....py'``)."""
    return Config.fromfile(str((CONFIGS_ROOT if '/' in name else CONFIG_DIR) /
                               name))


def shrink_model(model_cfg) -> dict:
    """A copy of a detector config with tiny widths: ParNet gets
    :data:`TINY_ARCH` (Darknet53 keeps its own, it has no width setting),
    and the neck and head follow."""
    model_cfg = copy.deepcopy(model_cfg)
    backbone = model_cfg['backbone']
    if backbone['type'] == 'ParNet':
        backbone['arch'] = TINY_ARCH
        backbone.pop('final_channels', None)
        backbone.pop('init_cfg', None)
        model_cfg['neck']['in_channels'] = TINY_NECK_IN
    model_cfg['neck']['out_channels'] = TINY_NECK_OUT
    model_cfg['bbox_head']['in_channels'] = TINY_NECK_OUT
    model_cfg['bbox_head']['out_channels'] = TINY_HEAD_OUT
    return model_cfg


def tiny_detector(name: str = SHAPES, **changes):
    """A tiny detector from a config of configs/yolov4/, with ``changes``
    (``part=dict(...)``) applied to its model config after shrinking."""
    init_default_scope('mmdet')
    model_cfg = shrink_model(load_config(name).model)
    for part, settings in changes.items():
        model_cfg[part].update(settings)
    return MODELS.build(model_cfg)


def demo_batch(model, size, num_classes=6, training=False):
    """One preprocessed demo image of ``size`` = (H, W) for ``model``."""
    packed = demo_mm_inputs(batch_size=1, image_shapes=(3, *size),
                            num_classes=num_classes)
    return model.data_preprocessor(packed, training)


# --- running the tools ------------------------------------------------------

MAX_EPOCHS = 2
ITERS_PER_EPOCH = 4  # 16 training images, 4 per batch


def free_port() -> int:
    """A TCP port on loopback that was free when asked."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def load_tool(relative_path: str):
    """Import a script under the repository's tools/ folder as a module."""
    path = REPO / 'tools' / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tiny_config(tmp: Path, data_root: Path, work_dir: Path,
                      name: str = 'tiny.py', extra: str = '') -> Path:
    """A child of the shapes config: tiny widths, 64 px, batch 4, 2 epochs,
    validation and a checkpoint every epoch, no worker processes."""
    ann = data_root / 'annotations'
    text = f'''
_base_ = {str(SHAPES_CONFIG)!r}
data_root = {str(data_root) + '/'!r}
work_dir = {str(work_dir)!r}
randomness = dict(seed=0)
img_scale = (64, 64)
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, widths=(8, 16, 32, 32), num_blocks=(1, 1, 1))),
    neck=dict(in_channels=[16, 32, 32], out_channels=[8, 16, 32]),
    bbox_head=dict(in_channels=[8, 16, 32], out_channels=[16, 32, 64]),
    # Two epochs leave the objectness low: keep every box, so that the
    # evaluation has something to score.
    test_cfg=dict(score_thr=0.0, conf_thr=0.0, max_per_img=100))
# No RandomFlip: a resumed run then sees exactly the data of an
# uninterrupted one (mmengine does not restore numpy's random state).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
loader = dict(batch_size=4, num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(ann_file={str(ann / 'instances_val.json')!r})
test_evaluator = dict(ann_file={str(ann / 'instances_test.json')!r})
train_cfg = dict(max_epochs={MAX_EPOCHS}, val_interval=1)
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3), logger=dict(interval=1))
{extra}
'''
    path = tmp / name
    path.write_text(text)
    return path


def run(args, env=None, check=True, timeout=300):
    """Run a Python script of ours or mmdet's in the repository root."""
    full_env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    full_env.update(env or {})
    result = subprocess.run([PYTHON, *map(str, args)], cwd=REPO,
                            env=full_env, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f'{args} failed ({result.returncode}):\n'
                             f'{result.stdout[-3000:]}\n'
                             f'{result.stderr[-5000:]}')
    return result


def reported_map(output: str) -> float:
    """The last ``coco/bbox_mAP`` an mmengine run logged."""
    values = re.findall(r'coco/bbox_mAP: (-?[\d.]+)', output)
    assert values, f'no coco/bbox_mAP in the output:\n{output[-3000:]}'
    return float(values[-1])


def load_meta(ckpt: Path) -> dict:
    # Must load weights-only: that is how mmengine resumes on torch >= 2.6.
    return torch.load(ckpt, map_location='cpu', weights_only=True)['meta']


# --- the head tests' grid ---------------------------------------------------

#: A 64x64 image: grids of 8x8, 4x4 and 2x2 cells at strides 8, 16 and 32.
STRIDES = (8, 16, 32)
SIZES = [(8, 8), (4, 4), (2, 2)]
ANCHOR_WH = torch.tensor(YOLOV4_ANCHORS, dtype=torch.float)


def box(cx, cy, w, h):
    """An xyxy box from its centre and size."""
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
