"""Shape-based multi-anchor assignment of YOLOv4 (darknet) and YOLOv4-CSP
(Scaled-YOLOv4).

Reproduces the positive-sample rules of:

* YOLOv4 -- Bochkovskiy, Wang, Liao, "YOLOv4: Optimal Speed and Accuracy of
  Object Detection", arXiv 2004.10934; code: github.com/AlexeyAB/darknet
  (``[yolo] iou_thresh``), public domain (YOLO licence).
* Scaled-YOLOv4 -- Wang, Bochkovskiy, Liao, "Scaled-YOLOv4: Scaling Cross
  Stage Partial Network", CVPR 2021; code: github.com/WongKinYiu/ScaledYOLOv4,
  branch ``yolov4-csp`` (``utils/loss.py`` ``build_targets``), GPL-3.0.

Written from the papers and the rules those codes document; no code is copied.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import TASK_UTILS
from torch import Tensor


@TASK_UTILS.register_module()
class YOLOv4ShapeAssigner:
    """Assign each ground-truth box to every anchor of a similar shape.

    Unlike mmdet's ``GridAssigner`` (positional IoU, one anchor per box), a
    box is positive for several anchors, chosen by shape alone (centred
    boxes, width and height only), possibly on several levels; an anchor may
    also be positive for several boxes.

    - ``mode='iou'`` (YOLOv4, darknet): the anchor, among all levels, whose
      shape IoU with the box is highest, plus every anchor whose shape IoU
      exceeds ``iou_thr``; only in the cell that holds the box centre.
    - ``mode='ratio'`` (YOLOv4-CSP, Scaled-YOLOv4): every anchor with
      ``max(r, 1 / r) < ratio_thr`` for both ``r = w / w_anchor`` and
      ``r = h / h_anchor``; in the centre's cell and in its two nearest
      neighbour cells: the left cell when the centre lies in the left half
      of its cell (``x mod 1 < 0.5``, grid units) and ``x > 1``, else the
      right cell when ``x mod 1 > 0.5`` and ``x < W - 1``; the same for the
      upper and lower cells. A box that matches no anchor gets no positive.

    Args:
        mode (str): ``'ratio'`` (YOLOv4-CSP) or ``'iou'`` (YOLOv4).
            Defaults to ``'ratio'``.
        iou_thr (float): Shape-IoU threshold of ``iou`` mode.
            Defaults to 0.213 (darknet ``iou_thresh``).
        ratio_thr (float): Size-ratio threshold of ``ratio`` mode.
            Defaults to 4.0 (Scaled-YOLOv4 ``anchor_t``).
    """

    MODES = ('iou', 'ratio')
    # Candidate cells as (dx, dy): the centre's cell, left, up, right, down.
    CELL_OFFSETS = ((0, 0), (-1, 0), (0, -1), (1, 0), (0, 1))

    def __init__(self,
                 mode: str = 'ratio',
                 iou_thr: float = 0.213,
                 ratio_thr: float = 4.0) -> None:
        if mode not in self.MODES:
            raise ValueError(f'YOLOv4ShapeAssigner mode must be one of '
                             f'{self.MODES}, got {mode!r}: use "ratio" for '
                             f'YOLOv4-CSP or "iou" for YOLOv4.')
        if ratio_thr <= 1:
            raise ValueError(f'ratio_thr must be > 1 (Scaled-YOLOv4 uses '
                             f'4.0), got {ratio_thr}.')
        self.mode = mode
        self.iou_thr = iou_thr
        self.ratio_thr = ratio_thr

    def match_anchors(self, gt_wh: Tensor, anchor_wh: Tensor) -> Tensor:
        """Say which anchors each box's shape matches.

        Args:
            gt_wh (Tensor): Box sizes in pixels, shape ``(G, 2)``.
            anchor_wh (Tensor): Anchor sizes in pixels, shape ``(L, A, 2)``.

        Returns:
            Tensor: Bool, shape ``(G, L, A)``.
        """
        gt_wh = gt_wh[:, None, None, :]
        if self.mode == 'ratio':
            ratio = gt_wh / anchor_wh
            return torch.max(ratio, 1 / ratio).amax(-1) < self.ratio_thr
        inter = torch.min(gt_wh, anchor_wh).prod(-1)
        shape_iou = inter / (gt_wh.prod(-1) + anchor_wh.prod(-1) - inter)
        best = shape_iou.flatten(1).argmax(1)
        is_best = F.one_hot(best, anchor_wh[..., 0].numel()).view_as(shape_iou)
        return (shape_iou > self.iou_thr) | is_best.bool()

    def assign(self, gt_bboxes: Tensor, featmap_sizes: Sequence[tuple],
               strides: Sequence[int],
               anchor_wh: Tensor) -> List[Tuple[Tensor, Tensor]]:
        """Find the positive (box, prior) pairs on every level.

        Args:
            gt_bboxes (Tensor): Boxes, xyxy in pixels, shape ``(G, 4)``.
            featmap_sizes (Sequence[tuple]): ``(H, W)`` of each level.
            strides (Sequence[int]): Stride of each level in pixels.
            anchor_wh (Tensor): Anchor sizes in pixels, shape ``(L, A, 2)``.

        Returns:
            list[tuple[Tensor, Tensor]]: Per level, ``(gt_inds, prior_inds)``
            of equal length: the box index and the index of the prior in
            that level's flattened grid, ``(y * W + x) * A + a``, which is
            mmdet's ``grid_priors`` order.
        """
        num_anchors = anchor_wh.size(1)
        matched = self.match_anchors(gt_bboxes[:, 2:] - gt_bboxes[:, :2],
                                     anchor_wh)
        offsets = torch.tensor(self.CELL_OFFSETS, device=gt_bboxes.device)
        results = []
        for level, ((h, w), stride) in enumerate(zip(featmap_sizes, strides)):
            centre = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) / (2 * stride)
            size = centre.new_tensor([w, h])
            cell = torch.min(centre.floor().clamp(min=0), size - 1).long()
            frac = centre - centre.floor()
            use_cell = torch.zeros(len(centre), len(offsets), dtype=torch.bool,
                                   device=centre.device)
            use_cell[:, 0] = True
            if self.mode == 'ratio':
                use_cell[:, 1:3] = (frac < 0.5) & (centre > 1)
                use_cell[:, 3:5] = (frac > 0.5) & (centre < size - 1)
            gt_inds, anchor_inds, offset_inds = (
                matched[:, level, :, None] & use_cell[:, None, :]).nonzero(
                    as_tuple=True)
            xy = cell[gt_inds] + offsets[offset_inds]
            prior_inds = (xy[:, 1] * w + xy[:, 0]) * num_anchors + anchor_inds
            results.append((gt_inds, prior_inds))
        return results
