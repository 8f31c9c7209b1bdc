"""Every config under configs/ (configs/*/*.py; the parts in configs/_base_
are not configs of their own) loads, builds (YOLOv4 ones at tiny widths, set
here and not in the configs) and runs its loss, predict and tensor modes; the
COCO configs differ from their Darknet53 twin only where they should."""
import re
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_parnet import ParNet
from mmdet_parnet.datasets import SHAPES_CLASSES
from tests.utils import (CONFIGS_ROOT, DARKNET_TWIN, SHAPES, YOLOV3_BASELINE,
                         load_config, shrink_model)

pytestmark = pytest.mark.usefixtures('one_thread')

#: Every config, by its path under configs/ ('yolov4/....py').
CONFIGS = sorted(
    p.relative_to(CONFIGS_ROOT).as_posix()
    for p in CONFIGS_ROOT.glob('*/*.py') if p.parent.name != '_base_')
PRETRAINED = 'yolov4_parnet-s92-in1k-pre_pafpn-csp_8xb16-300e_coco.py'
IMG = 64
#: The losses each head reports.
LOSSES = {
    'YOLOv4Head': {'loss_bbox', 'loss_obj', 'loss_cls'},
    'YOLOV3Head': {'loss_cls', 'loss_conf', 'loss_xy', 'loss_wh'},
}


def _twin(name: str):
    """The Darknet53 config with the same neck, head, data and schedule
    (the same name after the backbone), or None."""
    path = Path(name)
    match = re.fullmatch(r'yolov4_parnet-[^_]+_(pafpn-.*)', path.name)
    twin = match and (path.parent / f'yolov4_darknet53_{match.group(1)}')
    return twin.as_posix() if twin and twin.as_posix() in CONFIGS else None


#: (ParNet config, its Darknet53 twin) for every ParNet config with a twin.
TWINS = [(c, _twin(c)) for c in CONFIGS if _twin(c)]


def test_every_config_is_covered():
    assert {f'yolov4/{name}'
            for name in (DARKNET_TWIN, SHAPES, PRETRAINED)} <= set(CONFIGS)
    assert YOLOV3_BASELINE in CONFIGS
    # Every COCO ParNet config of the 300-epoch recipe has the twin.
    assert {c for c, _ in TWINS if c.endswith('300e_coco.py')} == {
        c for c in CONFIGS
        if c.startswith('yolov4/yolov4_parnet') and c.endswith('300e_coco.py')
    }
    # Every Darknet53 config is some ParNet config's twin.
    assert {t for _, t in TWINS} == {c for c in CONFIGS if 'darknet53' in c}


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_runs(name):
    cfg = load_config(name)
    assert cfg.custom_imports['imports'] == ['mmdet_parnet']
    head = cfg.model.bbox_head
    num_classes = head.num_classes
    # Prediction maps in the head's order (YOLOv3: stride 32 first).
    strides = head.get('featmap_strides', (8, 16, 32))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    # Tiny widths for our neck and head; mmdet's YOLOv3 ones at their own.
    model = MODELS.build(
        shrink_model(cfg.model) if head.type == 'YOLOv4Head' else cfg.model)
    model.init_weights()
    assert model.data_preprocessor.pad_size_divisor == 32

    packed = demo_mm_inputs(
        batch_size=2, image_shapes=(3, IMG, IMG), num_items=[3, 1],
        num_classes=num_classes)

    # loss: finite, and it reaches the backbone's first layer
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    assert LOSSES[head.type] <= set(losses)
    total, _ = model.parse_losses(losses)  # YOLOv3's are lists per level
    assert torch.isfinite(total)
    total.backward()
    first_grad = next(model.backbone.parameters()).grad
    assert first_grad is not None and first_grad.abs().sum() > 0

    model.eval()
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        # tensor: raw maps of 3 anchors x (5 + classes) at the head's strides
        (pred_maps, ) = model(**data, mode='tensor')
        assert [tuple(p.shape) for p in pred_maps] == [
            (2, 3 * (5 + num_classes), IMG // s, IMG // s) for s in strides
        ]
        # predict: boxes in the image with valid labels
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert pred.bboxes.shape == (len(pred), 4)
        assert len(pred) <= cfg.model.test_cfg.max_per_img
        if len(pred):
            assert pred.labels.min() >= 0
            assert pred.labels.max() < num_classes
            assert ((pred.scores >= 0) & (pred.scores <= 1)).all()


def test_norm_eval_off_on_both_backbones():
    """Training from scratch needs BN statistics that update (mmdet's
    Darknet defaults to norm_eval=True)."""
    for name in CONFIGS:
        assert load_config(name).model.backbone.norm_eval is False, name
    assert load_config(DARKNET_TWIN).model.backbone.type == 'Darknet'


def test_input_size_in_the_name():
    """mmdet's naming: a config whose input is not 640x640 says its size
    (``..._1xb8-256-6e_shapes.py``)."""
    for name in CONFIGS:
        size = load_config(name).img_scale
        assert size[0] == size[1], name
        settings = Path(name).stem.split('_')[-2].split('-')
        assert (str(size[0]) in settings) == (size[0] != 640), name


def test_shapes_config_classes():
    cfg = load_config(SHAPES)
    assert tuple(cfg.classes) == SHAPES_CLASSES
    assert cfg.model.bbox_head.num_classes == len(SHAPES_CLASSES)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.type == 'CheckedCocoDataset'
        assert tuple(dataset.metainfo.classes) == SHAPES_CLASSES


def _without_backbone(cfg: Config) -> dict:
    """The config as a dict, less the backbone and the neck's in_channels."""
    d = cfg.to_dict()
    del d['model']['backbone'], d['model']['neck']['in_channels']
    return d


@pytest.mark.parametrize('name, twin', TWINS)
def test_parnet_configs_differ_from_darknet_twin_only_in_backbone(name, twin):
    cfg, twin_cfg = load_config(name), load_config(twin)
    assert cfg.model.backbone.type == 'ParNet'
    assert twin_cfg.model.backbone.type == 'Darknet'
    assert _without_backbone(cfg) == _without_backbone(twin_cfg)


@pytest.mark.parametrize('name', CONFIGS)
def test_neck_in_channels_match_backbone(name):
    """At real widths: the neck takes what the backbone gives (the other
    tests shrink both)."""
    cfg = load_config(name)
    backbone = cfg.model.backbone
    neck = cfg.model.neck
    if backbone.type == 'ParNet':
        arch = ParNet.arch_settings[backbone.arch]
        widths = arch[:3] + (backbone.get('final_channels') or arch[3], )
        # taps (2, 5, 6) = stream2, fusion2, final: widths C2, C3, C4
        assert tuple(backbone.out_indices) == (2, 5, 6)
        expected = list(widths[1:])
    else:
        expected = [256, 512, 1024]  # Darknet53 stages 3, 4, 5
        assert tuple(backbone.out_indices) == (3, 4, 5)
    if neck.type == 'YOLOV3Neck':  # stride 32 first
        expected = expected[::-1]
    assert list(neck.in_channels) == expected


def test_coco_recipes_scale_to_the_global_batch_as_scaled_yolov4():
    """Every SGD COCO recipe accumulates to the nominal batch of 64 and
    scales weight decay (NominalBatchHook); the loss already grows with the
    batch, so auto_scale_lr stays off."""
    coco = [c for c in CONFIGS if c.endswith('300e_coco.py')]
    assert coco
    for name in coco:
        cfg = load_config(name)
        hooks = [h for h in cfg.custom_hooks if h.type == 'NominalBatchHook']
        assert [h.get('nominal_batch_size') for h in hooks] == [64], name
        assert cfg.auto_scale_lr.enable is False, name
        assert cfg.optim_wrapper.optimizer.weight_decay == 5e-4, name


def test_pretrained_config_matches_the_released_weights():
    """The s92-in1k-pre config initialises from a converted release file
    with the released network's arch and activation (that such a file loads
    is tests/test_tools/test_parnet_official_to_mmdet.py's job)."""
    backbone = load_config(PRETRAINED).model.backbone
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.checkpoint.endswith('.pth')
    assert backbone.arch == 'S92'
    assert backbone.act_cfg.type == 'ReLU'


def test_yolov3_baseline_shares_everything_but_neck_and_head():
    """The head benchmark's baseline: mmdet's stock YOLOv3 neck and head on
    the demo's backbone, data, optimizer and schedule (that it builds and
    runs is test_config_builds_and_runs's job)."""
    cfg, demo = load_config(YOLOV3_BASELINE), load_config(SHAPES)
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'randomness'):
        assert cfg[key] == demo[key], key
    assert cfg.model.backbone == demo.model.backbone
    assert (cfg.model.neck.type, cfg.model.bbox_head.type) == ('YOLOV3Neck',
                                                               'YOLOV3Head')
    assert cfg.model.bbox_head.num_classes == len(SHAPES_CLASSES)
