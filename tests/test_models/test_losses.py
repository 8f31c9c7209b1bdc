"""bbox_ciou against the CIoU formula evaluated by hand."""
import math

import torch

from mmdet_parnet.models import bbox_ciou


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


def test_bbox_ciou_is_invariant_to_shift_and_scale():
    """Pixels or Scaled-YOLOv4's grid units (/ stride, relative to a cell):
    the same CIoU and IoU."""
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 8, 2, generator=gen) * 60
    wh = torch.rand(2, 8, 2, generator=gen) * 40 + 2
    pred, target = torch.cat([xy - wh / 2, xy + wh / 2], -1)
    ciou, iou = bbox_ciou(pred, target)
    offset = torch.tensor([-3., -5., -3., -5.])
    ciou_grid, iou_grid = bbox_ciou(pred / 32 + offset, target / 32 + offset)
    torch.testing.assert_close(ciou_grid, ciou, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(iou_grid, iou, rtol=1e-5, atol=1e-6)


def test_bbox_ciou_gradient_treats_alpha_as_a_constant():
    target = torch.tensor([[0., 0., 4., 2.]])
    pred = torch.tensor([[0.5, 0.2, 2.5, 2.6]], requires_grad=True)
    ciou, iou = bbox_ciou(pred, target)
    (grad, ) = torch.autograd.grad(ciou.sum(), pred)

    def v_term(p):
        w, h = p[0, 2] - p[0, 0], p[0, 3] - p[0, 1]
        return 4 / math.pi**2 * (math.atan(2.) - torch.atan(w / h))**2

    v = v_term(pred.detach())
    alpha = v / (1 - iou.detach() + v)
    pred2 = pred.detach().clone().requires_grad_()
    _, iou2 = bbox_ciou(pred2, target)
    centre = (pred2[0, :2] + pred2[0, 2:]) / 2
    enclose = torch.max(pred2[0, 2:], target[0, 2:]) - torch.min(
        pred2[0, :2], target[0, :2])
    rho2 = (centre - torch.tensor([2., 1.])).pow(2).sum()
    by_hand = iou2.sum() - rho2 / enclose.pow(2).sum() - alpha * v_term(pred2)
    (expected, ) = torch.autograd.grad(by_hand, pred2)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
