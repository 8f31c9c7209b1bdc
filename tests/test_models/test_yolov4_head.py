"""YOLOv4Head: the loss against Scaled-YOLOv4's formulas (values and
gradients), one test per reduction rule, exact predictions, decoding and
clipping, overfitting one box, and configuration errors."""
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.structures import InstanceData

from mmdet_parnet.models import YOLOV4_ANCHORS, YOLOv4Head, bbox_ciou
from tests.utils import ANCHOR_WH, SIZES, STRIDES, box

IMG_METAS = [
    dict(img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1., 1.))
]
TEST_CFG = dict(
    nms_pre=1000,
    conf_thr=0.001,
    score_thr=0.01,
    nms=dict(type='nms', iou_threshold=0.65),
    max_per_img=100)
#: data/hyp.scratch.yaml of ScaledYOLOv4 branch yolov4-csp.
HYP = dict(box=0.05, obj=0.7, cls=0.3)
#: compute_loss's ``balance`` for three outputs.
BALANCE = (4.0, 1.0, 0.4)


def make_head(mode='csp', assigner='ratio', num_classes=2, **kwargs):
    cfg = dict(
        type='YOLOv4Head',
        num_classes=num_classes,
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


def gts(boxes, labels):
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float).view(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long))


def to_maps(flat_preds):
    """Undo the head's flattening: (N, HWA, 5 + C) -> (N, A(5 + C), H, W)."""
    return [
        p.reshape(p.size(0), h, w, -1).permute(0, 3, 1, 2)
        for p, (h, w) in zip(flat_preds, SIZES)
    ]


def random_outputs(batch, num_classes, seed=0):
    """Flattened raw outputs, leaves that collect gradients."""
    gen = torch.Generator().manual_seed(seed)
    return [(1.5 * torch.randn(batch, h * w * 3, 5 + num_classes,
                               generator=gen)).requires_grad_()
            for h, w in SIZES]


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


# --- Scaled-YOLOv4's compute_loss, written here from its formulas -----------


def ciou_xywh(p, t, eps=1e-9):
    """CIoU of two (x, y, w, h) boxes (Zheng et al. 2020), alpha detached."""
    p1, p2 = p[:2] - p[2:] / 2, p[:2] + p[2:] / 2
    t1, t2 = t[:2] - t[2:] / 2, t[:2] + t[2:] / 2
    inter = (torch.min(p2, t2) - torch.max(p1, t1)).clamp(min=0).prod()
    iou = inter / (p[2] * p[3] + t[2] * t[3] - inter + eps)
    diag2 = (torch.max(p2, t2) - torch.min(p1, t1)).pow(2).sum() + eps
    rho2 = (p[:2] - t[:2]).pow(2).sum()
    v = 4 / math.pi**2 * (torch.atan(t[2] / t[3]) -
                          torch.atan(p[2] / p[3]))**2
    alpha = (v / (1 + eps - iou + v)).detach()
    return iou - rho2 / diag2 - alpha * v


def reference_positives(boxes, level, anchor_t=4.0):
    """build_targets' positives of one image on one level, in grid units:
    (cell x, cell y, anchor, box index)."""
    (h, w), stride = SIZES[level], STRIDES[level]
    found = []
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        gx, gy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
        gw, gh = (x2 - x1) / stride, (y2 - y1) / stride
        for a, (aw, ah) in enumerate(YOLOV4_ANCHORS[level]):
            ratios = (gw * stride / aw, gh * stride / ah)
            if max(max(r, 1 / r) for r in ratios) >= anchor_t:
                continue
            i, j = int(gx), int(gy)
            cells = [(i, j)]
            if gx % 1 < 0.5 and gx > 1:
                cells.append((i - 1, j))
            if gy % 1 < 0.5 and gy > 1:
                cells.append((i, j - 1))
            if gx % 1 > 0.5 and gx < w - 1:
                cells.append((i + 1, j))
            if gy % 1 > 0.5 and gy < h - 1:
                cells.append((i, j + 1))
            found += [(ci, cj, a, k) for ci, cj in cells]
    return found


def reference_loss(flat, batch_boxes, batch_labels, num_classes):
    """compute_loss of Scaled-YOLOv4 (yolov4-csp): per level the mean of
    1 - CIoU over the batch's positives, the mean class BCE over positives
    and classes (skipped for one class), the objectness BCE mean over every
    prior (targets max(CIoU, 0), the highest for a shared prior) times the
    level's balance; levels summed, gains applied, times the batch size."""
    bs = flat[0].size(0)
    lbox = lobj = lcls = torch.zeros(())
    for level, ((h, w), stride) in enumerate(zip(SIZES, STRIDES)):
        out = flat[level].view(bs, h, w, 3, 5 + num_classes)
        tobj = torch.zeros(bs, h, w, 3)
        box_terms, cls_logits, cls_targets = [], [], []
        for b, (boxes, labels) in enumerate(zip(batch_boxes, batch_labels)):
            for i, j, a, k in reference_positives(boxes, level):
                t = out[b, j, i, a]
                anchor = torch.tensor(YOLOV4_ANCHORS[level][a]) / stride
                pred = torch.cat([
                    torch.tensor([i, j]) + 2 * t[:2].sigmoid() - 0.5,
                    (2 * t[2:4].sigmoid())**2 * anchor
                ])
                x1, y1, x2, y2 = boxes[k]
                target = torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1,
                                       y2 - y1]) / stride
                ciou = ciou_xywh(pred, target)
                box_terms.append(1 - ciou)
                tobj[b, j, i, a] = max(tobj[b, j, i, a],
                                       ciou.detach().clamp(min=0))
                cls_logits.append(t[5:])
                cls_targets.append(F.one_hot(torch.tensor(labels[k]),
                                             num_classes).float())
        if box_terms:
            lbox = lbox + torch.stack(box_terms).mean()
            if num_classes > 1:
                lcls = lcls + F.binary_cross_entropy_with_logits(
                    torch.stack(cls_logits), torch.stack(cls_targets))
        lobj = lobj + BALANCE[level] * F.binary_cross_entropy_with_logits(
            out[..., 4], tobj)
    return dict(loss_bbox=bs * HYP['box'] * lbox,
                loss_obj=bs * HYP['obj'] * lobj,
                loss_cls=bs * HYP['cls'] * lcls)


#: Three images of 64x64 (grids 8, 4 and 2 cells wide).
EDGE_CASES = [
    (
        [
            # On the left border: centre x 0.375 cells, no left neighbour.
            box(3, 19, 6, 10),
            # In the bottom-right corner: x exactly on the half (neither
            # neighbour), y in the lower half of the last row (none below).
            box(60, 61, 8, 6),
            # The whole image: positives on all three levels.
            box(32, 32, 64, 64),
            # 2 px wide: at least 6 times narrower than every anchor.
            box(20, 30, 2, 60),
        ],
        [0, 1, 2, 0],
    ),
    ([], []),  # an empty image
    (
        [
            # Centres (3.375, 3.375) and (3.625, 3.625) on level 0: both
            # positive for the three anchors of cell (3, 3).
            box(27, 27, 14, 18),
            box(29, 29, 12, 16),
            box(48, 12, 30, 20),
        ],
        [0, 1, 2],
    ),
]


def edge_case_batch(num_classes):
    boxes = [b for b, _ in EDGE_CASES]
    labels = [[min(label, num_classes - 1) for label in ls]
              for _, ls in EDGE_CASES]
    return boxes, labels, [gts(b, ls) for b, ls in zip(boxes, labels)]


def test_edge_cases_are_what_they_claim():
    boxes, _, _ = edge_case_batch(3)
    image0 = {level: reference_positives(boxes[0], level) for level in
              range(3)}
    assert (0, 1, 0, 0) in image0[0] and not any(
        ci < 0 for ci, *_ in image0[0])  # up neighbour, no left one
    assert {(ci, cj) for ci, cj, _, k in image0[0] if k == 1} == {(7, 7)}
    assert all(any(k == 2 for *_, k in image0[level]) for level in range(3))
    assert not any(k == 3 for level in range(3) for *_, k in image0[level])
    shared = [p[:3] for p in reference_positives(boxes[2], 0)]
    assert all(shared.count((3, 3, a)) == 2 for a in range(3))


@pytest.mark.parametrize('num_classes', [3, 1])
def test_loss_matches_scaled_yolov4_formulas(num_classes):
    """Values and gradients of every loss agree with compute_loss written
    from its formulas (grid units, loops) on random outputs, to 1e-4."""
    head = make_head(num_classes=num_classes)
    boxes, labels, batch = edge_case_batch(num_classes)
    flat = random_outputs(len(batch), num_classes)
    losses = head.loss_by_feat(to_maps(flat), batch, IMG_METAS * 3)
    expected = reference_loss(flat, boxes, labels, num_classes)
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value, rtol=1e-4, atol=0)
    head_grads = torch.autograd.grad(sum(losses.values()), flat)
    ref_grads = torch.autograd.grad(sum(expected.values()), flat)
    for got, want in zip(head_grads, ref_grads):
        torch.testing.assert_close(
            got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    if num_classes == 1:
        assert losses['loss_cls'].item() == 0
        assert all(g[..., 5:].abs().max() == 0 for g in head_grads)


# --- one test per rule of the issue -----------------------------------------


def per_level_terms(head, flat, target):
    """(1 - CIoU) and class BCE of each positive, grouped by level, from the
    head's own assigner and coder."""
    assignments = head.assigner.assign(target.bboxes, SIZES, STRIDES,
                                       ANCHOR_WH)
    priors = head.prior_generator.grid_priors(SIZES, device='cpu')
    boxes, classes = [], []
    for level, (gt_inds, prior_inds) in enumerate(assignments):
        out = flat[level][0, prior_inds]
        decoded = head.bbox_coder.decode(priors[level][prior_inds],
                                         out[:, :4], STRIDES[level], level)
        boxes.append(1 - bbox_ciou(decoded, target.bboxes[gt_inds])[0])
        onehot = F.one_hot(target.labels[gt_inds], 2).float()
        classes.append(F.binary_cross_entropy_with_logits(
            out[:, 5:], onehot, reduction='none'))
    return boxes, classes


def test_rule1_box_and_class_losses_average_each_level_then_sum():
    """Not one mean over all positives: a stride-8 box with 3 positives and
    a large box with 2 + 6 on the coarser levels."""
    head = make_head()
    target = gts([box(19, 13, 8, 8), box(40, 40, 48, 60)], [0, 1])
    flat = random_outputs(1, 2, seed=1)
    losses = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    boxes, classes = per_level_terms(head, flat, target)
    counts = [len(b) for b in boxes]
    assert len(set(counts)) > 1 and min(counts) > 0, counts
    per_level = sum(b.mean() for b in boxes)
    pooled = torch.cat(boxes).mean()  # the rule this replaced
    assert abs(per_level - pooled) > 0.5 * per_level
    torch.testing.assert_close(losses['loss_bbox'], 0.05 * per_level)
    torch.testing.assert_close(losses['loss_cls'],
                               0.3 * sum(c.mean() for c in classes))


def test_rule2_default_gains_are_yolov4_csp_hyp_scratch():
    """box 0.05, obj 0.7, cls 0.3; zero logits and no box: the objectness
    loss is 0.7 * (4 + 1 + 0.4) * log 2."""
    head = make_head()
    assert (head.loss_bbox_weight, head.loss_obj_weight,
            head.loss_cls_weight) == (0.05, 0.7, 0.3)
    zeros = [torch.zeros(1, 21, h, w) for h, w in SIZES]
    losses = head.loss_by_feat(zeros, [gts([], [])], IMG_METAS)
    expected = 0.7 * (4.0 + 1.0 + 0.4) * math.log(2)
    assert losses['loss_obj'].item() == pytest.approx(expected, rel=1e-5)


def test_rule3_objectness_target_is_the_ciou_clamped_at_0():
    """The target read back from the gradient of each positive's logit,
    d loss / d o = gain * w_l * (sigmoid(o) - t) / priors of the level:
    max(CIoU, 0), neither the IoU nor a negative CIoU."""
    head = make_head()
    target = gts([box(19, 13, 8, 8)], [0])  # level 0: cells (2,1) (1,1) (2,2)
    flat = [torch.zeros(1, h * w * 3, 7) for h, w in SIZES]
    prior_inds = head.assigner.assign(target.bboxes, SIZES, STRIDES,
                                      ANCHOR_WH)[0][1]
    # Exact, slightly off, and one cell off (IoU 0.06, CIoU < 0).
    priors = head.prior_generator.grid_priors(SIZES, device='cpu')[0]
    flat[0][0, prior_inds, :4] = head.bbox_coder.encode(
        priors[prior_inds], target.bboxes.expand(3, 4), 8)
    flat[0][0, prior_inds[1], :2] += 1.5
    flat[0][0, prior_inds[2], :2] = torch.tensor([-8., -8.])
    flat[0].requires_grad_()
    losses = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    grad = torch.autograd.grad(losses['loss_obj'], flat[0])[0][0, prior_inds,
                                                                4]
    read = 0.5 - grad * (8 * 8 * 3) / (0.7 * 4.0)
    decoded = head.bbox_coder.decode(priors[prior_inds],
                                     flat[0][0, prior_inds, :4].detach(), 8)
    ciou, iou = bbox_ciou(decoded, target.bboxes.expand(3, 4))
    assert ciou[2] < 0 < iou[2] and 0 < ciou[1] < iou[1] - 0.05
    torch.testing.assert_close(read, ciou.clamp(min=0), rtol=1e-4,
                               atol=1e-5)


def test_rule3_a_prior_positive_for_two_boxes_takes_the_highest_target():
    head = make_head()
    target = gts([box(27, 27, 14, 18), box(29, 29, 12, 16)], [0, 1])
    flat = random_outputs(1, 2, seed=2)
    shared = (3 * 8 + 3) * 3  # cell (3, 3), anchor 0
    losses = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    grad = torch.autograd.grad(losses['loss_obj'], flat[0])[0][0, shared, 4]
    read = flat[0][0, shared, 4].sigmoid() - grad * (8 * 8 * 3) / (0.7 * 4)
    prior = head.prior_generator.grid_priors(SIZES, device='cpu')[0][shared]
    decoded = head.bbox_coder.decode(prior[None], flat[0][0, shared, None, :4],
                                     8).expand(2, 4)
    ciou = bbox_ciou(decoded, target.bboxes)[0].detach()
    assert abs(ciou[0] - ciou[1]) > 0.02
    torch.testing.assert_close(read.detach(), ciou.max().clamp(min=0),
                               rtol=1e-4, atol=1e-5)


def test_rule4_losses_are_multiplied_by_images_and_world_size():
    """Scaled-YOLOv4 returns loss * batch size and train.py multiplies it by
    the world size (DDP then averages the gradients)."""
    head = make_head()
    feats = make_feats()
    one = [gts([box(30, 26, 20, 24)], [1])]
    single = head.loss_by_feat(*head(feats), one, IMG_METAS)
    double = head.loss_by_feat(*head([torch.cat([f, f]) for f in feats]),
                               one * 2, IMG_METAS * 2)
    with mock.patch('mmdet_parnet.models.yolov4_head.get_world_size',
                    return_value=4):
        on_four = head.loss_by_feat(*head(feats), one, IMG_METAS)
    for name, value in single.items():
        assert double[name].item() == pytest.approx(2 * value.item(),
                                                    rel=1e-5)
        assert on_four[name].item() == pytest.approx(4 * value.item(),
                                                     rel=1e-5)


def test_rule5_single_class_has_no_class_loss_and_scores_by_objectness():
    head = make_head(num_classes=1)
    target = gts([box(30, 26, 20, 24)], [0])
    flat = random_outputs(1, 1, seed=3)
    losses = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    assert losses['loss_cls'].item() == 0
    grads = torch.autograd.grad(sum(losses.values()), flat)
    assert all(g[..., 5].abs().max() == 0 for g in grads)
    with torch.no_grad():
        for p in flat:
            p[..., 4] = -20.
        flat[1][0, 5, 4] = 3.  # the one confident prior, class logit -20
        flat[1][0, 5, 5] = -20.
        result = head.predict_by_feat(to_maps(flat), IMG_METAS,
                                      dict(TEST_CFG, max_per_img=1))[0]
    torch.testing.assert_close(result.scores, torch.tensor([3.]).sigmoid())


# --- behaviour kept from before ---------------------------------------------


@pytest.mark.parametrize('ignore_iou_thr', [None, 0.7])
def test_loss_without_boxes(ignore_iou_thr):
    head = make_head(ignore_iou_thr=ignore_iou_thr)
    losses = head.loss_by_feat(*head(make_feats()), [gts([], [])], IMG_METAS)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_bbox'].item() == 0
    assert losses['loss_cls'].item() == 0
    assert losses['loss_obj'].item() > 0
    sum(losses.values()).backward()


def test_loss_with_one_box_and_an_empty_image():
    head = make_head()
    batch = [gts([box(30, 26, 20, 24)], [1]), gts([], [])]
    losses = head.loss_by_feat(*head(make_feats(2)), batch, IMG_METAS * 2)
    for name in ('loss_bbox', 'loss_obj', 'loss_cls'):
        assert torch.isfinite(losses[name]) and losses[name].item() > 0
    sum(losses.values()).backward()
    assert all(conv.weight.grad.abs().sum() > 0 for conv in head.convs_pred)


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
    +-20 then cost 20 * eps / 2 per class (positives on level 0 only)."""
    head = make_head(label_smoothing=0.2)
    target = gts([box(19, 13, 11, 14)], [1])
    flat, pos = exact_predictions(head, target)
    assert [len(p) > 0 for p in pos] == [True, False, False]
    loss = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)['loss_cls']
    assert loss.item() == pytest.approx(0.3 * 20 * 0.1, rel=1e-4)


def test_ignore_rule_skips_only_overlapping_confident_negatives():
    """darknet: a negative whose decoded box has IoU > 0.7 with a box, and
    some class probability > 0.25, gets no objectness loss."""
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
    expected = 0.7 * 4.0 * F.softplus(torch.tensor(5.)) / (8 * 8 * 3)
    torch.testing.assert_close(kept - ignored, expected)
    # Class probabilities sigmoid(-2) = 0.12 < 0.25: not ignored.
    flat[0][0, neighbour, 5:] = -2.
    unsure = head.loss_by_feat(to_maps(flat), [target], IMG_METAS)
    torch.testing.assert_close(unsure['loss_obj'], kept)


@pytest.mark.parametrize('mode,x_offset', [('csp', 2 * 0.25 * 16),
                                           ('scale_xy', 1.1 * 0.25 * 16)])
def test_predict_decodes_rescales_and_clips(mode, x_offset):
    """One confident prior on level 1 (stride 16, s = 1.1), cell (1, 2),
    anchor (36, 75), tx = logit(0.75): centre x = 24 + offset, y = 40; y
    reaches 77.5, clipped to the 64 px input, then to the 32 px original."""
    head = make_head(mode)
    flat = [torch.zeros(1, h * w * 3, 7) for h, w in SIZES]
    for p in flat:
        p[..., 4:] = -20.
    prior = (2 * 4 + 1) * 3 + 0
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
    expected = torch.tensor([[x - 18, 40 - 37.5, x + 18, 64]]) / 2
    torch.testing.assert_close(result.bboxes, expected)


def test_predict_clips_to_the_image_and_to_the_original():
    """A box far larger than the image: inside img_shape without rescale,
    inside ori_shape with it (the letterbox padding lies beyond)."""
    head = make_head()
    flat = [torch.full((1, h * w * 3, 7), -20.) for h, w in SIZES]
    flat[2][0, 0, 2:4] = 20.  # 4 x the largest anchor
    flat[2][0, 0, 4:6] = 20.
    # A 40 x 30 photo letterboxed into 64 x 64: scaled by 1.6 to 64 x 48.
    metas = [dict(img_shape=(64, 64), ori_shape=(30, 40),
                  scale_factor=(1.6, 1.6))]
    raw = head.predict_by_feat(to_maps(flat), metas, rescale=False)[0]
    torch.testing.assert_close(raw.bboxes, torch.tensor([[0., 0., 64., 64.]]))
    ori = head.predict_by_feat(to_maps(flat), metas, rescale=True)[0]
    torch.testing.assert_close(ori.bboxes, torch.tensor([[0., 0., 40., 30.]]))


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


def test_builds_no_loss_modules_and_keeps_checkpoint_keys():
    """No YOLOv3 loss module is built (and thrown away); the parameters
    keep YOLOV3Head's names, so checkpoints load unchanged."""
    with mock.patch.object(MODELS, 'build', wraps=MODELS.build) as build:
        head = YOLOv4Head(num_classes=2, in_channels=(4, 4, 4),
                          out_channels=(8, 8, 8))
    build.assert_not_called()
    assert not any(hasattr(head, name) for name in
                   ('loss_cls', 'loss_conf', 'loss_xy', 'loss_wh'))
    expected = set()
    for i in range(3):
        expected |= {f'convs_bridge.{i}.conv.weight'}
        expected |= {f'convs_bridge.{i}.bn.{k}' for k in (
            'weight', 'bias', 'running_mean', 'running_var',
            'num_batches_tracked')}
        expected |= {f'convs_pred.{i}.weight', f'convs_pred.{i}.bias'}
    assert set(head.state_dict()) == expected


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
    (dict(num_classes=0), 'num_classes'),
    (dict(label_smoothing=1.0), 'label_smoothing'),
])
def test_invalid_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_head(**kwargs)


def test_loss_needs_an_assigner():
    head = make_head(train_cfg=None)
    with pytest.raises(ValueError, match='train_cfg'):
        head.loss_by_feat(*head(make_feats()), [gts([], [])], IMG_METAS)
