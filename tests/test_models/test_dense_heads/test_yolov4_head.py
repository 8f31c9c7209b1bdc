import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from mmdet.registry import MODELS

import mmdet_parnet  # noqa: F401
from mmdet_parnet.yolov4_head import (YOLOV4_ANCHORS, YOLOv4ShapeAssigner,
                                      bbox_ciou)

# A 64x64 image: grids of 8x8, 4x4 and 2x2 cells at strides 8, 16 and 32.
STRIDES = (8, 16, 32)
SIZES = [(8, 8), (4, 4), (2, 2)]
NUM_ANCHORS = 3
ANCHOR_WH = torch.tensor(YOLOV4_ANCHORS, dtype=torch.float)
IMG_METAS = [
    dict(img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1., 1.))
]
TEST_CFG = dict(
    nms_pre=1000,
    conf_thr=0.001,
    score_thr=0.01,
    nms=dict(type='nms', iou_threshold=0.65),
    max_per_img=100)


def make_head(mode='csp', assigner='ratio', **kwargs):
    cfg = dict(
        type='YOLOv4Head',
        num_classes=2,
        in_channels=(4, 4, 4),
        out_channels=(8, 8, 8),
        bbox_coder=dict(type='YOLOv4BBoxCoder', mode=mode),
        train_cfg=dict(
            assigner=dict(type='YOLOv4ShapeAssigner', mode=assigner)),
        test_cfg=TEST_CFG)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def make_feats(batch=1):
    return [torch.rand(batch, 4, h, w) for h, w in SIZES]


def box(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def gts(boxes, labels):
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long))


def positives(assignments):
    """Turn the assigner's output into {(level, gt, x, y, anchor)}."""
    found = set()
    for level, (gt_inds, prior_inds) in enumerate(assignments):
        width = SIZES[level][1]
        for gt, prior in zip(gt_inds.tolist(), prior_inds.tolist()):
            cell, anchor = divmod(prior, NUM_ANCHORS)
            found.add((level, gt, cell % width, cell // width, anchor))
    return found


def to_maps(flat_preds):
    """Undo the head's flattening: (N, HWA, 5 + C) -> (N, A(5 + C), H, W)."""
    return [
        p.reshape(p.size(0), h, w, -1).permute(0, 3, 1, 2)
        for p, (h, w) in zip(flat_preds, SIZES)
    ]


def exact_predictions(head, target):
    """Raw outputs whose positives decode exactly onto the box, with
    objectness and class logits +20 there and -20 elsewhere; returns them
    flattened and the positive prior indices of each level."""
    assignments = head.assigner.assign(target.bboxes, SIZES, STRIDES,
                                       ANCHOR_WH)
    mlvl_priors = head.prior_generator.grid_priors(SIZES, device='cpu')
    flat = [torch.full((1, h * w * 3, 7), -20.) for h, w in SIZES]
    pos = []
    for level, (gt_inds, prior_inds) in enumerate(assignments):
        flat[level][0, prior_inds, :4] = head.bbox_coder.encode(
            mlvl_priors[level][prior_inds], target.bboxes[gt_inds],
            STRIDES[level], level)
        flat[level][0, prior_inds, 4] = 20.
        flat[level][0, prior_inds, 5 + target.labels[gt_inds]] = 20.
        pos.append(prior_inds)
    return flat, pos


def test_ratio_assignment_hand_computed():
    """YOLOv4-CSP: anchors with w and h ratios < 4, in the centre's cell and
    the nearest horizontal and vertical neighbours."""
    gt_bboxes = torch.tensor([
        # Centre (2.375, 1.625) cells on level 0: cell (2, 1), left (1, 1),
        # lower (2, 2). 8x8 matches only (12, 16) (ratios 1.5 and 2).
        box(19, 13, 8, 8),
        # 200x200 matches (76, 55), (72, 146) on level 1 and all of level 2.
        # Level 1: centre (2.75, 0.25) -> (2, 0) and right (3, 0); y < 1 has
        # no upper cell. Level 2: centre (1.375, 0.125) -> (1, 0), left (0, 0).
        box(44, 4, 200, 200),
        # 4x70 is 4.375 times taller than (12, 16): no anchor at all.
        box(19, 13, 4, 70),
        # Centre (7.75, 7.75) in the last cell: no right or lower neighbour.
        box(62, 62, 8, 8),
        # Centre (4.5, 3.5), on neither half: the centre's cell alone.
        box(36, 28, 8, 8),
    ])
    assigner = YOLOv4ShapeAssigner(mode='ratio')
    found = positives(assigner.assign(gt_bboxes, SIZES, STRIDES, ANCHOR_WH))
    expected = {(0, 0, 2, 1, 0), (0, 0, 1, 1, 0), (0, 0, 2, 2, 0),
                (0, 3, 7, 7, 0), (0, 4, 4, 3, 0)}
    expected |= {(1, 1, x, 0, a) for x in (2, 3) for a in (1, 2)}
    expected |= {(2, 1, x, 0, a) for x in (0, 1) for a in (0, 1, 2)}
    assert found == expected


def test_iou_assignment_hand_computed():
    """YOLOv4: the best anchor over all levels plus every anchor with shape
    IoU > 0.213, in the centre's cell only."""
    gt_bboxes = torch.tensor([
        # 8x8: IoU 64 / 192 = 0.33 with (12, 16); < 0.1 with the others.
        box(19, 13, 8, 8),
        # 90x90: (36, 75) 0.33, (76, 55) 0.52, (72, 146) 0.53 on level 1,
        # (142, 110) 0.52 on level 2, (192, 243) 0.17 (below 0.213).
        box(44, 4, 90, 90),
        # 4x70: best is (19, 36) with only 144 / 820 = 0.18: still positive.
        box(19, 13, 4, 70),
    ])
    assigner = YOLOv4ShapeAssigner(mode='iou', iou_thr=0.213)
    found = positives(assigner.assign(gt_bboxes, SIZES, STRIDES, ANCHOR_WH))
    expected = {(0, 0, 2, 1, 0), (2, 1, 1, 0, 0), (0, 2, 2, 1, 1)}
    expected |= {(1, 1, 2, 0, a) for a in (0, 1, 2)}
    assert found == expected


@pytest.mark.parametrize('mode', ['iou', 'ratio'])
def test_assignment_without_boxes(mode):
    assignments = YOLOv4ShapeAssigner(mode=mode).assign(
        torch.zeros(0, 4), SIZES, STRIDES, ANCHOR_WH)
    assert [len(g) + len(p) for g, p in assignments] == [0, 0, 0]


def test_bbox_ciou_hand_computed():
    # Same shape, shifted by 1: IoU 2 / 6, enclosing 3x2, centres 1 apart.
    ciou, iou = bbox_ciou(
        torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 0., 3., 2.]]))
    torch.testing.assert_close(iou, torch.tensor([1 / 3]))
    torch.testing.assert_close(ciou, torch.tensor([1 / 3 - 1 / 13]))
    # IoU exactly 0.5: the aspect term counts (mmdet's CIoULoss drops it).
    ciou, iou = bbox_ciou(
        torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[0., 0., 4., 2.]]))
    v = 4 / math.pi**2 * (math.atan(2.) - math.atan(1.))**2
    alpha = v / (1 - 0.5 + v)
    torch.testing.assert_close(iou, torch.tensor([0.5]))
    torch.testing.assert_close(ciou, torch.tensor([0.5 - 1 / 20 - alpha * v]))


@pytest.mark.parametrize('ignore_iou_thr', [None, 0.7])
def test_loss_without_boxes(ignore_iou_thr):
    head = make_head(ignore_iou_thr=ignore_iou_thr)
    losses = head.loss_by_feat(*head(make_feats()), [gts([], [])], IMG_METAS)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_bbox'].item() == 0
    assert losses['loss_cls'].item() == 0
    assert losses['loss_obj'].item() > 0
    sum(losses.values()).backward()


def test_objectness_level_weights_hand_computed():
    # Zero logits: BCE(0, 0) = log 2 on every prior, each level a mean.
    head = make_head(loss_obj_weight=2.0)
    zeros = [torch.zeros(1, 21, h, w) for h, w in SIZES]
    losses = head.loss_by_feat(zeros, [gts([], [])], IMG_METAS)
    expected = 2.0 * (4.0 + 1.0 + 0.4) * math.log(2)
    assert losses['loss_obj'].item() == pytest.approx(expected, rel=1e-5)


def test_loss_with_one_box_and_an_empty_image():
    head = make_head()
    batch = [gts([box(30, 26, 20, 24)], [1]), gts([], [])]
    losses = head.loss_by_feat(*head(make_feats(2)), batch, IMG_METAS * 2)
    for name in ('loss_bbox', 'loss_obj', 'loss_cls'):
        assert torch.isfinite(losses[name]) and losses[name].item() > 0
    sum(losses.values()).backward()
    assert all(conv.weight.grad.abs().sum() > 0 for conv in head.convs_pred)


def test_losses_scale_with_the_batch_like_scaled_yolov4():
    # Scaled-YOLOv4 returns loss * batch size: two copies of one image give
    # twice the loss of that image alone.
    head = make_head()
    feats = make_feats()
    one = [gts([box(30, 26, 20, 24)], [1])]
    single = head.loss_by_feat(*head(feats), one, IMG_METAS)
    double = head.loss_by_feat(*head([torch.cat([f, f]) for f in feats]),
                               one * 2, IMG_METAS * 2)
    for name, value in single.items():
        assert double[name].item() == pytest.approx(2 * value.item(),
                                                     rel=1e-5)


@pytest.mark.parametrize('mode,assigner', [('csp', 'ratio'),
                                           ('scale_xy', 'iou')])
def test_loss_is_zero_for_exact_predictions(mode, assigner):
    """Positives that decode exactly onto the box, objectness and class
    logits at +-20: every loss ~0; shifting the boxes raises the CIoU loss
    and, with the IoU-aware target, the objectness loss."""
    head = make_head(mode, assigner)
    target = gts([box(19, 13, 11, 14)], [1])
    flat, pos = exact_predictions(head, target)
    assert sum(len(p) for p in pos) >= 2  # several anchors/cells per box

    exact = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    for name in ('loss_bbox', 'loss_obj', 'loss_cls'):
        assert exact[name].item() < 1e-3, name

    for level, prior_inds in enumerate(pos):
        flat[level][0, prior_inds, 0] += 1.0
    shifted = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    assert shifted['loss_bbox'].item() > exact['loss_bbox'].item() + 1e-3
    assert shifted['loss_obj'].item() > exact['loss_obj'].item() + 0.1
    torch.testing.assert_close(shifted['loss_cls'], exact['loss_cls'])

    head.iou_aware_obj = False  # target 1: a shifted box keeps obj ~0
    assert head.loss_by_feat(to_maps(flat), [target],
                             IMG_METAS)['loss_obj'].item() < 1e-3


def test_label_smoothing_targets():
    """Scaled-YOLOv4 smoothing: targets 1 - eps / 2 and eps / 2; logits of
    +-20 then cost 20 * eps / 2 per class."""
    head = make_head(label_smoothing=0.2)
    target = gts([box(19, 13, 11, 14)], [1])
    flat, _ = exact_predictions(head, target)
    loss = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)['loss_cls']
    assert loss.item() == pytest.approx(0.3 * 20 * 0.1, rel=1e-4)


def test_ignore_rule_skips_only_overlapping_negatives():
    """YOLOv4: a negative whose decoded box has IoU > 0.7 with a box gets
    no objectness loss."""
    head = make_head('csp', 'iou')
    target = gts([box(20, 12, 12, 16)], [0])  # the anchor (12, 16) of (2, 1)
    flat = [torch.zeros(1, h * w * 3, 7) for h, w in SIZES]
    # Cell (1, 1), anchor 0 is no positive in iou mode; make it decode onto
    # the box (one cell away: csp reaches it) with a confident logit.
    neighbour = (1 * 8 + 1) * 3
    prior = head.prior_generator.grid_priors(SIZES, device='cpu')[0][neighbour]
    flat[0][0, neighbour, :4] = head.bbox_coder.encode(prior[None],
                                                       target.bboxes, 8)
    flat[0][0, neighbour, 4] = 5.
    kept = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)['loss_obj']
    head.ignore_iou_thr = 0.7
    ignored = head.loss_by_feat(to_maps(flat), [target],
                                IMG_METAS)['loss_obj']
    # Exactly that prior's BCE(5, 0) leaves level 0's mean over 8*8*3.
    expected = 4.0 * F.softplus(torch.tensor(5.)) / (8 * 8 * 3)
    torch.testing.assert_close(kept - ignored, expected)


@pytest.mark.parametrize('mode,x_offset', [('csp', 2 * 0.25 * 16),
                                           ('scale_xy', 1.1 * 0.25 * 16)])
def test_predict_decodes_and_rescales(mode, x_offset):
    """One confident prior on level 1 (stride 16, s = 1.1), cell (1, 2),
    anchor (72, 146), tx = logit(0.75): centre x = 24 + offset, y = 40."""
    head = make_head(mode)
    flat = [torch.zeros(1, h * w * 3, 7) for h, w in SIZES]
    for p in flat:
        p[..., 4:] = -20.
    prior = (2 * 4 + 1) * 3 + 2
    flat[1][0, prior, 0] = math.log(3.)
    flat[1][0, prior, 4] = 0.  # objectness 0.5
    flat[1][0, prior, 6] = 20.  # class 1
    metas = [
        dict(img_shape=(64, 64), ori_shape=(32, 32), scale_factor=(2., 2.))
    ]
    result = head.predict_by_feat(to_maps(flat), metas, rescale=True)[0]
    assert len(result) == 1
    assert result.labels.tolist() == [1]
    torch.testing.assert_close(result.scores, torch.tensor([0.5]))
    x = 24 + x_offset
    expected = torch.tensor([[x - 36, 40 - 73, x + 36, 40 + 73]]) / 2
    torch.testing.assert_close(result.bboxes, expected)


@pytest.mark.parametrize('mode,assigner', [('csp', 'ratio'),
                                           ('scale_xy', 'iou')])
def test_overfits_one_box(mode, assigner):
    """A 30x14 box is no anchor's shape (shape IoU <= 0.38 with each); the
    default head on fixed features learns it within 50 SGD steps."""
    torch.manual_seed(0)
    head = make_head(mode, assigner)
    feats = [torch.randn(1, 4, h, w) for h, w in SIZES]
    target = gts([box(38, 22, 30, 14)], [0])
    cfg = dict(TEST_CFG, conf_thr=0, score_thr=0)

    def top_prediction():
        # BN stays in train mode: fixed features, so the statistics that
        # prediction uses are the ones training saw.
        with torch.no_grad():
            result = head.predict_by_feat(*head(feats), IMG_METAS, cfg)[0]
        best = result.scores.argmax()
        iou = bbox_ciou(result.bboxes[best][None], target.bboxes)[1].item()
        return iou, result.labels[best].item()

    assert top_prediction()[0] < 0.5
    optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    for _ in range(50):
        losses = head.loss_by_feat(*head(feats), [target], IMG_METAS)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    iou, label = top_prediction()
    assert iou > 0.5 and label == 0


def test_predict_through_detector_interface():
    """``predict`` (forward + decode) on demo inputs gives InstanceData."""
    from mmdet.testing import demo_mm_inputs
    head = make_head()
    head.eval()
    samples = demo_mm_inputs(batch_size=1, image_shapes=(3, 64, 64),
                             num_classes=2)['data_samples']
    with torch.no_grad():
        result = head.predict(tuple(make_feats()), samples, rescale=True)[0]
    assert set(result.keys()) >= {'bboxes', 'scores', 'labels'}
    assert result.bboxes.shape[1:] == (4, )


@pytest.mark.parametrize('kwargs,message', [
    (dict(in_channels=(4, 4)), 'in_channels'),
    (dict(obj_level_weights=(4.0, 1.0)), 'obj_level_weights'),
    (dict(featmap_strides=(32, 16, 8),
          anchor_generator=dict(
              type='YOLOAnchorGenerator',
              base_sizes=YOLOV4_ANCHORS[::-1],
              strides=[32, 16, 8])), 'ascending'),
    (dict(anchor_generator=dict(
        type='YOLOAnchorGenerator',
        base_sizes=YOLOV4_ANCHORS,
        strides=[8, 16, 64])), 'anchor_generator strides'),
    (dict(anchor_generator=dict(
        type='YOLOAnchorGenerator',
        base_sizes=[YOLOV4_ANCHORS[0], YOLOV4_ANCHORS[1][:2],
                    YOLOV4_ANCHORS[2]],
        strides=[8, 16, 32])), 'base_sizes'),
    (dict(bbox_coder=dict(type='YOLOv4BBoxCoder', mode='yolov3')), 'mode'),
    (dict(bbox_coder=dict(type='YOLOBBoxCoder')), 'YOLOv4BBoxCoder'),
    (dict(bbox_coder=dict(
        type='YOLOv4BBoxCoder', mode='scale_xy', scale_x_y=(1.2, 1.1))),
     'scale_x_y'),
    (dict(train_cfg=dict(
        assigner=dict(type='YOLOv4ShapeAssigner', mode='grid'))), 'mode'),
])
def test_invalid_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_head(**kwargs)


def test_loss_needs_an_assigner():
    head = make_head(train_cfg=None)
    with pytest.raises(ValueError, match='train_cfg'):
        head.loss_by_feat(*head(make_feats()), [gts([], [])], IMG_METAS)
