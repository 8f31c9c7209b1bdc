"""darknet_twin swaps in the COCO twin config's backbone and neck widths and
changes nothing else; the twin builds and runs."""
import torch

from mmdet_parnet.utils.darknet_twin import darknet_twin
from tests.utils import DARKNET_TWIN, SHAPES, load_config


def test_twin_changes_backbone_and_neck_widths_only():
    cfg = load_config(SHAPES)
    coco_twin = load_config(DARKNET_TWIN)
    twin = darknet_twin(cfg)
    assert twin.model.backbone == coco_twin.model.backbone
    assert twin.model.backbone.type == 'Darknet'
    assert twin.model.neck.in_channels == coco_twin.model.neck.in_channels
    before, after = cfg.to_dict(), twin.to_dict()
    for part in (before, after):
        part['model'].pop('backbone')
        part['model']['neck'].pop('in_channels')
    assert before == after
    assert cfg.model.backbone.type == 'ParNet'  # the input is left alone


def test_twin_of_the_shapes_config_runs():
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    model = MODELS.build(darknet_twin(load_config(SHAPES)).model).eval()
    with torch.no_grad():
        maps = model(torch.rand(1, 3, 64, 64), mode='tensor')[0]
    assert [m.shape[-1] for m in maps] == [8, 4, 2]
