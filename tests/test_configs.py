"""Every config in configs/yolov4/ loads, builds (at tiny widths, set here and
not in the configs) and runs its loss, predict and tensor modes; the COCO
configs differ from their Darknet53 twin only where they should."""
import copy
import re

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO
from mmdet_parnet import ParNet
from mmdet_parnet.datasets import SHAPES_CLASSES

CONFIG_DIR = REPO / 'configs' / 'yolov4'
CONFIGS = sorted(p.name for p in CONFIG_DIR.glob('*.py'))
DARKNET_TWIN = 'yolov4_darknet53_pafpn-csp_8xb16-300e_coco.py'
SHAPES = 'yolov4_parnet-s_pafpn-csp_1xb8-6e_shapes.py'
PRETRAINED = 'yolov4_parnet-s92-in1k-pre_pafpn-csp_8xb16-300e_coco.py'


def _twin(name: str):
    """The Darknet53 config with the same neck, head, data and schedule
    (the same name after the backbone), or None."""
    match = re.fullmatch(r'yolov4_parnet-[^_]+_(pafpn-.*)', name)
    twin = match and f'yolov4_darknet53_{match.group(1)}'
    return twin if twin in CONFIGS else None


#: (ParNet config, its Darknet53 twin) for every ParNet config with a twin.
TWINS = [(c, _twin(c)) for c in CONFIGS if _twin(c)]

#: Tiny ParNet: taps (2, 5, 6) give 16, 32 and 32 channels.
TINY_ARCH = dict(widths=(8, 16, 32, 32), num_blocks=(1, 1, 1))
TINY_NECK_IN = [16, 32, 32]
TINY_NECK_OUT = [8, 16, 32]
TINY_HEAD_OUT = [16, 32, 64]
IMG = 64


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """One intra-op thread: on a busy machine, two spin-waiting OpenMP
    threads make the first pass of each new model take seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


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


def test_every_config_is_covered():
    assert {DARKNET_TWIN, SHAPES, PRETRAINED} <= set(CONFIGS)
    # Every COCO ParNet config of the 300-epoch recipe has the twin.
    assert {c for c, _ in TWINS if c.endswith('300e_coco.py')} == {
        c for c in CONFIGS
        if c.startswith('yolov4_parnet') and c.endswith('300e_coco.py')
    }
    # Every Darknet53 config is some ParNet config's twin.
    assert {t for _, t in TWINS} == {c for c in CONFIGS if 'darknet53' in c}


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_runs(name):
    cfg = load(name)
    assert cfg.custom_imports['imports'] == ['mmdet_parnet']
    num_classes = cfg.model.bbox_head.num_classes
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(shrink_model(cfg.model))
    model.init_weights()
    assert model.data_preprocessor.pad_size_divisor == 32

    packed = demo_mm_inputs(
        batch_size=2, image_shapes=(3, IMG, IMG), num_items=[3, 1],
        num_classes=num_classes)

    # loss: finite, and it reaches the backbone's first layer
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    assert {'loss_bbox', 'loss_obj', 'loss_cls'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    first_grad = next(model.backbone.parameters()).grad
    assert first_grad is not None and first_grad.abs().sum() > 0

    model.eval()
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        # tensor: raw maps of 3 anchors x (5 + classes) at strides 8, 16, 32
        (pred_maps, ) = model(**data, mode='tensor')
        assert [tuple(p.shape) for p in pred_maps] == [
            (2, 3 * (5 + num_classes), IMG // s, IMG // s) for s in (8, 16, 32)
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
        assert load(name).model.backbone.norm_eval is False, name
    assert load(DARKNET_TWIN).model.backbone.type == 'Darknet'


def test_shapes_config_classes():
    cfg = load(SHAPES)
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
    cfg, twin_cfg = load(name), load(twin)
    assert cfg.model.backbone.type == 'ParNet'
    assert twin_cfg.model.backbone.type == 'Darknet'
    assert _without_backbone(cfg) == _without_backbone(twin_cfg)


@pytest.mark.parametrize('name', CONFIGS)
def test_neck_in_channels_match_backbone(name):
    """At real widths: the neck takes what the backbone gives (the other
    tests shrink both)."""
    cfg = load(name)
    backbone = cfg.model.backbone
    if backbone.type == 'ParNet':
        arch = ParNet.arch_settings[backbone.arch]
        widths = arch[:3] + (backbone.get('final_channels') or arch[3], )
        # taps (2, 5, 6) = stream2, fusion2, final: widths C2, C3, C4
        assert tuple(backbone.out_indices) == (2, 5, 6)
        expected = list(widths[1:])
    else:
        expected = [256, 512, 1024]  # Darknet53 stages 3, 4, 5
        assert tuple(backbone.out_indices) == (3, 4, 5)
    assert list(cfg.model.neck.in_channels) == expected


def test_pretrained_config_names_converter_output():
    """The s92-in1k-pre config initialises from the file its comment tells
    the converter to write, with the released network's arch and act (that
    such a file loads is tests/test_tools/test_parnet_official_to_mmdet.py's
    job)."""
    cfg = load(PRETRAINED)
    init_cfg = cfg.model.backbone.init_cfg
    assert init_cfg.type == 'Pretrained'
    text = (CONFIG_DIR / PRETRAINED).read_text()
    command = re.search(
        r'parnet_official_to_mmdet\.py[\s\\#]*(\S+)\s+(\S+)', text)
    assert command, 'the config should show the converter command'
    assert command.group(2) == init_cfg.checkpoint
    assert init_cfg.checkpoint.endswith('.pth')
    assert cfg.model.backbone.arch == 'S92'
    assert cfg.model.backbone.act_cfg.type == 'ReLU'


def test_yolov3_baseline_shares_everything_but_neck_and_head():
    """The head benchmark's baseline: mmdet's stock YOLOv3 neck and head on
    the demo's backbone, data, optimizer and schedule."""
    cfg = Config.fromfile(
        str(REPO / 'configs/yolov3/yolov3_parnet-s_1xb8-6e_shapes.py'))
    demo = load(SHAPES)
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg', 'randomness'):
        assert cfg[key] == demo[key], key
    assert cfg.model.backbone == demo.model.backbone
    assert (cfg.model.neck.type, cfg.model.bbox_head.type) == ('YOLOV3Neck',
                                                               'YOLOV3Head')
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(
        batch_size=2, image_shapes=(3, IMG, IMG), num_items=[3, 1],
        num_classes=len(SHAPES_CLASSES))
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    assert {'loss_cls', 'loss_conf', 'loss_xy', 'loss_wh'} <= set(losses)
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False),
                        mode='predict')
    assert len(results) == 2
