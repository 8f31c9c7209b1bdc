"""The detectors compared (COCO and shapes configs of each), and part 1:
depth, parameters and multiply-adds."""
import copy
from pathlib import Path

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from ...utils.complexity import TensorForward, count_complexity
from ...utils.darknet_twin import darknet_twin
from ...utils.depth import count_depth, deployed_copy, paper_depth
from .common import (
    CONFIG_DIR, FORMS, TINY_ARCH, TINY_NECK_IN, TINY_SIZE, TINY_V3, TINY_V4,
    TWIN, YOLOV3, YOLOV3_CONFIG)


def find_config(pattern: str):
    """The first config of configs/yolov4/ matching ``pattern``, or None."""
    hits = sorted(CONFIG_DIR.glob(pattern))
    return hits[0] if hits else None


def need_config(pattern: str) -> Path:
    path = find_config(pattern)
    if path is None:
        raise FileNotFoundError(f'no config configs/yolov4/{pattern}')
    return path


def build(model_cfg) -> nn.Module:
    """A detector in eval mode, default initialisation (latency does not
    depend on the weights, save for the boxes NMS is given)."""
    init_default_scope('mmdet')
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.eval()
    return model


class Spec:
    """One detector: ``coco`` (its COCO config: latency at 640, complexity,
    depth) and ``shapes`` (the shapes recipe with this detector's model:
    train-step throughput; ParNet-S and the twin are trained on it)."""

    def __init__(self, name: str, coco: Config, shapes: Config) -> None:
        self.name, self.coco, self.shapes = name, coco, shapes


def shrink(model: ConfigDict) -> None:
    """--tiny: tiny widths (in place)."""
    backbone = model.backbone
    if backbone.type == 'ParNet':
        backbone.arch = dict(TINY_ARCH)
        backbone.pop('final_channels', None)
        model.neck.in_channels = list(TINY_NECK_IN)
    tiny = TINY_V3 if model.neck.type == 'YOLOV3Neck' else TINY_V4
    model.neck.out_channels = list(tiny['neck_out'])
    model.bbox_head.in_channels = list(tiny['neck_out'])
    model.bbox_head.out_channels = list(tiny['head_out'])


def set_data(cfg: Config, data_root: Path, tiny: bool) -> None:
    """Point a shapes config at ``data_root`` (absolute, so that it works
    from any folder); --tiny: small images, batches of 4, no workers, keep
    every box (a few iterations leave the scores low)."""
    root = str(data_root) + '/'
    cfg.data_root = root
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        dataset = loader.dataset
        while 'dataset' in dataset:
            dataset = dataset.dataset
        dataset.data_root = root
        if tiny:
            loader.update(batch_size=4, num_workers=0,
                          persistent_workers=False)
            for step in dataset.pipeline:
                if step['type'] == 'Resize':
                    step['scale'] = (TINY_SIZE, TINY_SIZE)
    for split in ('val', 'test'):
        evaluator = cfg.get(f'{split}_evaluator')
        if isinstance(evaluator, dict):
            evaluator.ann_file = f'{root}annotations/instances_{split}.json'
    if tiny:
        cfg.model.test_cfg.update(score_thr=0.0, conf_thr=0.0)


def make_specs(args, data_root: Path) -> list:
    """ParNet per --archs, the Darknet53 twin and the stock YOLOv3; ParNet-S
    and the twin always (they are the equal-budget pair)."""
    shapes_path = need_config('*parnet-s_*shapes*.py')
    base_shapes = Config.fromfile(str(shapes_path))
    twin_coco = Config.fromfile(str(need_config('yolov4_darknet53_*_coco.py')))
    archs = list(dict.fromkeys(['S'] + [a.upper() for a in args.archs]))
    specs = []
    for arch in archs:
        coco = Config.fromfile(
            str(need_config(f'yolov4_parnet-{arch.lower()}_*_coco.py')))
        shapes = copy.deepcopy(base_shapes)
        backbone = coco.model.backbone
        shapes.model.backbone.arch = backbone.arch
        if 'final_channels' in backbone:
            shapes.model.backbone.final_channels = backbone.final_channels
        shapes.model.neck.in_channels = list(coco.model.neck.in_channels)
        specs.append(Spec(f'ParNet-{arch}', coco, shapes))
    twin_shapes = darknet_twin(base_shapes, twin_coco.filename)
    specs.append(Spec(TWIN, twin_coco, twin_shapes))
    v3_coco = Config.fromfile(str(YOLOV3_CONFIG))
    v3_coco.model.backbone.pop('init_cfg', None)  # no download
    v3_shapes = copy.deepcopy(base_shapes)
    v3_shapes.model = copy.deepcopy(v3_coco.model)
    v3_shapes.model.bbox_head.num_classes = len(base_shapes.classes)
    specs.append(Spec(YOLOV3, v3_coco, v3_shapes))
    for spec in specs:
        if args.tiny:
            shrink(spec.coco.model)
            shrink(spec.shapes.model)
        set_data(spec.shapes, data_root, args.tiny)
    return specs


def eager_forms(detector: nn.Module) -> dict:
    """Form -> (detector, channels_last input)."""
    parnet = getattr(detector.backbone, 'channels_last', None) is not None
    if parnet:
        detector.backbone.channels_last = False
    deployed = deployed_copy(detector)
    fast = copy.deepcopy(deployed).to(memory_format=torch.channels_last)
    if parnet:
        fast.backbone.channels_last = True
    return {FORMS[0]: (detector, False), FORMS[1]: (deployed, False),
            FORMS[2]: (fast, True)}


def architecture(forms: dict, size) -> dict:
    """Depths (mmdet_parnet.utils.depth), parameters and multiply-adds of
    the backbone and the detector, training and deployed form."""
    trained, deployed = forms[FORMS[0]][0], forms[FORMS[1]][0]
    row = dict(
        paper_depth=paper_depth(trained.backbone),
        backbone_convs=count_depth(deployed.backbone),
        detector_depth=count_depth(TensorForward(deployed)))
    for form, model in (('train', trained), ('deploy', deployed)):
        row[f'backbone_params_{form}'], row[f'backbone_gmacs_{form}'] = \
            count_complexity(model.backbone, size)
        row[f'detector_params_{form}'], row[f'detector_gmacs_{form}'] = \
            count_complexity(TensorForward(model), size)
    return row
