import math

import pytest
import torch
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import HorizontalBoxes

import mmdet_parnet  # noqa: F401
from mmdet_parnet.models import YOLOv4BBoxCoder

# A 12x16 anchor of cell (x=2, y=1) at stride 8: centre (2.5 * 8, 1.5 * 8).
ANCHOR = torch.tensor([[14., 4., 26., 20.]])
LOGIT_075 = math.log(3.)  # sigmoid(log 3) = 0.75


def test_scale_xy_defaults_are_darknets():
    """cfg/yolov4.cfg: scale_x_y = 1.2, 1.1, 1.05 at strides 8, 16, 32."""
    coder = TASK_UTILS.build(dict(type='YOLOv4BBoxCoder', mode='scale_xy'))
    assert coder.scale_x_y == (1.2, 1.1, 1.05)


def test_csp_zero_output_is_the_anchor():
    # 2 * 0.5 - 0.5 + cell = cell centre; (2 * 0.5)^2 * anchor = anchor.
    coder = YOLOv4BBoxCoder(mode='csp')
    torch.testing.assert_close(
        coder.decode(ANCHOR, torch.zeros(1, 4), stride=8), ANCHOR)


def test_csp_known_values():
    coder = YOLOv4BBoxCoder(mode='csp')
    pred = torch.tensor([[LOGIT_075, -LOGIT_075, LOGIT_075, 0.]])
    # x = (2 * 0.75 - 0.5 + 2) * 8 = 24, y = (2 * 0.25 - 0.5 + 1) * 8 = 8,
    # w = (2 * 0.75)^2 * 12 = 27, h = (2 * 0.5)^2 * 16 = 16.
    expected = torch.tensor([[24 - 13.5, 8 - 8., 24 + 13.5, 8 + 8.]])
    torch.testing.assert_close(coder.decode(ANCHOR, pred, 8), expected)


def test_scale_xy_known_values_per_level():
    coder = YOLOv4BBoxCoder(mode='scale_xy', scale_x_y=(1.2, 1.1, 1.05))
    pred = torch.tensor([[LOGIT_075, 0., math.log(2.), 0.]]).repeat(3, 1)
    anchors = ANCHOR.repeat(3, 1)
    out = coder.decode(anchors, pred, torch.tensor([8, 8, 8]),
                       torch.tensor([0, 1, 2]))
    # x = (0.75 * s - (s - 1) / 2 + 2) * 8; y = (0.5 * s - (s - 1) / 2 + 1) * 8
    # = 12 for every s; w = exp(log 2) * 12 = 24, h = 16.
    for row, s in zip(out, (1.2, 1.1, 1.05)):
        x = (0.75 * s - (s - 1) / 2 + 2) * 8
        torch.testing.assert_close(
            row, torch.tensor([x - 12, 12 - 8, x + 12, 12 + 8]))


@pytest.mark.parametrize('mode,reach', [('csp', 1.0), ('scale_xy', 0.6)])
def test_decode_range(mode, reach):
    """Centres move at most s / 2 cells from the cell centre (s = 2 for csp,
    1.2 on level 0); csp sizes stay in (0, 4 * anchor)."""
    coder = YOLOv4BBoxCoder(mode=mode)
    pred = torch.linspace(-12, 12, 49)[:, None].repeat(1, 4)
    out = coder.decode(ANCHOR.expand(49, 4), pred, 8, 0)
    centre = (out[:, :2] + out[:, 2:]) / 2
    offset = (centre - torch.tensor([20., 12.])) / 8
    assert offset.abs().max() <= reach + 1e-5
    assert offset.max() > reach - 1e-3 and offset.min() < -reach + 1e-3
    wh = out[:, 2:] - out[:, :2]
    assert (wh >= 0).all()
    if mode == 'csp':
        ratio = wh / torch.tensor([12., 16.])
        assert ratio.max() <= 4 and ratio.max() > 3.99


@pytest.mark.parametrize('mode', ['csp', 'scale_xy'])
def test_encode_decode_round_trip(mode):
    torch.manual_seed(0)
    coder = YOLOv4BBoxCoder(mode=mode)
    n = 50
    level_inds = torch.randint(0, 3, (n, ))
    strides = torch.tensor([8., 16., 32.])[level_inds]
    centres = torch.rand(n, 2) * 100
    anchor_wh = torch.rand(n, 2) * 50 + 5
    anchors = torch.cat([centres - anchor_wh / 2, centres + anchor_wh / 2], 1)
    # Targets inside what each mode can reach: centre within 0.45 cell,
    # size between 0.3 and 3.5 times the anchor.
    gt_xy = centres + (torch.rand(n, 2) - 0.5) * 0.9 * strides[:, None]
    gt_wh = anchor_wh * (torch.rand(n, 2) * 3.2 + 0.3)
    gts = torch.cat([gt_xy - gt_wh / 2, gt_xy + gt_wh / 2], 1)

    raw = coder.encode(anchors, gts, strides, level_inds)
    torch.testing.assert_close(
        coder.decode(anchors, raw, strides, level_inds),
        gts,
        rtol=1e-4,
        atol=1e-3)
    # And the other way round, from raw outputs.
    raw = torch.randn(n, 4)
    decoded = coder.decode(anchors, raw, strides, level_inds)
    torch.testing.assert_close(
        coder.encode(anchors, decoded, strides, level_inds),
        raw,
        rtol=1e-3,
        atol=1e-3)


def test_encode_clamps_unreachable_targets():
    coder = YOLOv4BBoxCoder(mode='csp')
    # 10x the anchor, centre 3 cells away: csp reaches 4x and 1 cell.
    gt = torch.tensor([[20. + 24 - 60, 12. - 80, 20. + 24 + 60, 12. + 80]])
    decoded = coder.decode(ANCHOR, coder.encode(ANCHOR, gt, 8), 8)
    torch.testing.assert_close(
        decoded,
        torch.tensor([[28. - 24, 12. - 32, 28. + 24, 12. + 32]]),
        rtol=0,
        atol=1e-3)


def test_box_type_output():
    coder = YOLOv4BBoxCoder(use_box_type=True)
    out = coder.decode(HorizontalBoxes(ANCHOR), torch.zeros(1, 4), 8)
    assert isinstance(out, HorizontalBoxes)
    torch.testing.assert_close(out.tensor, ANCHOR)


def test_invalid_settings():
    with pytest.raises(ValueError, match='mode'):
        YOLOv4BBoxCoder(mode='yolov3')
    with pytest.raises(ValueError, match='scale_x_y'):
        YOLOv4BBoxCoder(mode='scale_xy', scale_x_y=(1.2, 0.))
    with pytest.raises(ValueError, match='level_inds'):
        YOLOv4BBoxCoder(mode='scale_xy').decode(ANCHOR, torch.zeros(1, 4), 8)
