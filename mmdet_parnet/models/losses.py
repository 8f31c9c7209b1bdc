"""Complete-IoU of aligned boxes, as YOLOv4 and Scaled-YOLOv4 compute it.

Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
Regression", AAAI 2020 (arXiv 1911.08287), in the form used by darknet
(github.com/AlexeyAB/darknet, public domain) and Scaled-YOLOv4
(github.com/WongKinYiu/ScaledYOLOv4 ``utils/general.py`` ``bbox_iou``,
GPL-3.0); written from the formula, no code copied.
"""
import math
from typing import Tuple

import torch
from torch import Tensor


def bbox_ciou(pred: Tensor, target: Tensor,
              eps: float = 1e-7) -> Tuple[Tensor, Tensor]:
    """Complete IoU of aligned xyxy boxes, and their plain IoU.

    ``CIoU = IoU - rho^2 / c^2 - alpha * v`` with ``rho`` the distance of
    the centres, ``c`` the diagonal of the enclosing box, ``v`` the
    aspect-ratio term ``4 / pi^2 * (atan(w_t / h_t) - atan(w_p / h_p))^2``
    and ``alpha = v / (1 - IoU + v)`` treated as a constant (Zheng et al.,
    as used by YOLOv4 and Scaled-YOLOv4; unlike mmdet's ``CIoULoss`` the
    aspect term is never gated).

    Every term is a ratio of lengths or areas, so the CIoU does not change
    when both boxes are shifted or scaled alike: pixels give Scaled-YOLOv4's
    values in grid units (up to ``eps``, which the two place slightly
    differently: 1e-7 on the union, the enclosing diagonal, the heights in
    ``v`` and ``alpha``'s denominator here; 1e-9 on the heights, the union
    and the diagonal there).

    Args:
        pred (Tensor): Predicted boxes, shape ``(n, 4)``.
        target (Tensor): Target boxes, shape ``(n, 4)``.
        eps (float): Guard against division by zero. Defaults to 1e-7.

    Returns:
        tuple[Tensor, Tensor]: CIoU in ``[-1, 1]`` and IoU in ``[0, 1]``,
        each of shape ``(n, )``.
    """
    inter = (torch.min(pred[:, 2:], target[:, 2:]) -
             torch.max(pred[:, :2], target[:, :2])).clamp(min=0).prod(-1)
    pred_wh = pred[:, 2:] - pred[:, :2]
    target_wh = target[:, 2:] - target[:, :2]
    iou = inter / (pred_wh.prod(-1) + target_wh.prod(-1) - inter + eps)
    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) -
                  torch.min(pred[:, :2], target[:, :2]))
    diag2 = enclose_wh.pow(2).sum(-1) + eps
    centre_dist2 = ((pred[:, :2] + pred[:, 2:]) -
                    (target[:, :2] + target[:, 2:])).pow(2).sum(-1) / 4
    v = (4 / math.pi**2) * (
        torch.atan(target_wh[:, 0] / (target_wh[:, 1] + eps)) -
        torch.atan(pred_wh[:, 0] / (pred_wh[:, 1] + eps))).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + 1 + eps)
    return iou - centre_dist2 / diag2 - alpha * v, iou
