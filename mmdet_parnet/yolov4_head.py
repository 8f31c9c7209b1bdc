"""YOLOv4 / YOLOv4-CSP detection head: shape-based multi-anchor assignment,
CIoU box loss, IoU-aware objectness and grid-sensitive decoding."""
import copy
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import YOLOV3Head
from mmdet.models.utils import filter_scores_and_topk
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList)
from .yolov4_bbox_coder import YOLOv4BBoxCoder

# The nine YOLOv4 anchors (w, h) in pixels, for strides 8, 16 and 32.
YOLOV4_ANCHORS = [[(12, 16), (19, 36), (40, 28)],
                  [(36, 75), (76, 55), (72, 146)],
                  [(142, 110), (192, 243), (459, 401)]]


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


def bbox_ciou(pred: Tensor, target: Tensor,
              eps: float = 1e-7) -> Tuple[Tensor, Tensor]:
    """Complete IoU of aligned xyxy boxes, and their plain IoU.

    ``CIoU = IoU - rho^2 / c^2 - alpha * v`` with ``rho`` the distance of
    the centres, ``c`` the diagonal of the enclosing box, ``v`` the
    aspect-ratio term ``4 / pi^2 * (atan(w_t / h_t) - atan(w_p / h_p))^2``
    and ``alpha = v / (1 - IoU + v)`` treated as a constant (Zheng et al.,
    as used by YOLOv4 and Scaled-YOLOv4; unlike mmdet's ``CIoULoss`` the
    aspect term is never gated).

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


@MODELS.register_module()
class YOLOv4Head(YOLOV3Head):
    """YOLOv4 head (Bochkovskiy et al. 2020) in its YOLOv4-CSP form
    (Scaled-YOLOv4, Wang et al. 2021) or its darknet YOLOv4 form.

    Per level, as :class:`YOLOV3Head` (whose layers, prior-bias init and
    forward are reused): a 3x3 ConvModule, then a 1x1 conv to
    ``num_anchors * (5 + num_classes)`` raw outputs per cell, ordered
    ``(tx, ty, tw, th, objectness, classes...)`` per anchor. Levels come in
    ascending stride order (8, 16, 32), as newer mmdet necks emit them.

    Training (``loss_by_feat``):

    - positives from ``train_cfg['assigner']``, a
      :class:`YOLOv4ShapeAssigner` (several anchors, and in ``ratio`` mode
      neighbour cells, per box);
    - box loss ``1 - CIoU`` between the decoded positive boxes and their
      boxes, averaged over positives;
    - objectness BCE on every prior, averaged per level and summed with
      ``obj_level_weights``; the positives' target is their detached IoU
      (IoU-aware, YOLOv4-CSP, which uses the CIoU clamped at 0) or 1
      (YOLOv4); a prior positive for several boxes takes the highest
      target; with ``ignore_iou_thr`` set,
      negatives whose decoded box overlaps some box of the image by more
      than that IoU are left out (YOLOv4);
    - classification BCE over the positives' classes, averaged over
      positives and classes, with Scaled-YOLOv4 label smoothing: targets
      ``1 - eps / 2`` and ``eps / 2``.

    As in Scaled-YOLOv4 (``loss * bs``), each loss is averaged as above and
    then multiplied by the number of images in the batch, so its learning
    rate (0.01 for 16 images per GPU) applies unchanged. Images without
    boxes contribute only objectness terms that push every prior down.
    ``batch_gt_instances_ignore`` is not used.

    Testing (``predict_by_feat``): boxes decoded by ``bbox_coder``; score =
    sigmoid(objectness) * sigmoid(class); ``test_cfg`` keys ``conf_thr``
    (objectness threshold, optional), ``score_thr`` (on the score),
    ``nms_pre`` (top-k before NMS, optional), ``nms`` and ``max_per_img``.

    Args:
        num_classes (int): Number of object classes.
        in_channels (Sequence[int]): Input channels per level.
        out_channels (Sequence[int]): Channels of each level's 3x3 conv.
            Defaults to (256, 512, 1024).
        anchor_generator (dict): A ``YOLOAnchorGenerator`` config with the
            levels in ascending stride order. Defaults to the YOLOv4
            anchors at strides 8, 16 and 32.
        bbox_coder (dict): A ``YOLOv4BBoxCoder`` config. Defaults to
            ``dict(type='YOLOv4BBoxCoder', mode='csp')``.
        featmap_strides (Sequence[int]): Strides of the levels, ascending;
            must equal the anchor generator's. Defaults to (8, 16, 32).
        loss_bbox_weight (float): Weight of the CIoU loss. Defaults to 0.05.
        loss_obj_weight (float): Weight of the objectness loss.
            Defaults to 1.0.
        loss_cls_weight (float): Weight of the classification loss;
            Scaled-YOLOv4 scales it by ``num_classes / 80``.
            Defaults to 0.3.
        obj_level_weights (Sequence[float]): Objectness weight of each level.
            Defaults to (4.0, 1.0, 0.4).
        iou_aware_obj (bool): Objectness target of positives is their IoU
            (True, YOLOv4-CSP) or 1 (False, YOLOv4). Defaults to True.
        ignore_iou_thr (float, optional): YOLOv4 ignore threshold (0.7 in
            darknet); None disables it. Defaults to None.
        label_smoothing (float): Label-smoothing ``eps`` of the class
            targets. Defaults to 0.0.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='LeakyReLU', negative_slope=0.1)``.
        train_cfg (dict, optional): Must hold ``assigner`` to compute
            losses. Defaults to None.
        test_cfg (dict, optional): Post-processing settings, see above.
            Defaults to None.

    Example:
        >>> import torch
        >>> head = YOLOv4Head(num_classes=2, in_channels=(8, 16, 32),
        ...                   out_channels=(8, 16, 32))
        >>> feats = [torch.rand(1, c, 64 // s, 64 // s)
        ...          for c, s in zip((8, 16, 32), (8, 16, 32))]
        >>> [p.shape for p in head(feats)[0]]
        [torch.Size([1, 21, 8, 8]), torch.Size([1, 21, 4, 4]), \
torch.Size([1, 21, 2, 2])]
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int],
                 out_channels: Sequence[int] = (256, 512, 1024),
                 anchor_generator: ConfigType = dict(
                     type='YOLOAnchorGenerator',
                     base_sizes=YOLOV4_ANCHORS,
                     strides=[8, 16, 32]),
                 bbox_coder: ConfigType = dict(
                     type='YOLOv4BBoxCoder', mode='csp'),
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 loss_bbox_weight: float = 0.05,
                 loss_obj_weight: float = 1.0,
                 loss_cls_weight: float = 0.3,
                 obj_level_weights: Sequence[float] = (4.0, 1.0, 0.4),
                 iou_aware_obj: bool = True,
                 ignore_iou_thr: Optional[float] = None,
                 label_smoothing: float = 0.0,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 act_cfg: ConfigType = dict(
                     type='LeakyReLU', negative_slope=0.1),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None) -> None:
        _check_levels(in_channels, out_channels, featmap_strides,
                      obj_level_weights, anchor_generator)
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            out_channels=out_channels,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            featmap_strides=featmap_strides,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            test_cfg=test_cfg)
        # YOLOv3's losses are replaced by the CIoU / BCE terms below.
        del self.loss_cls, self.loss_conf, self.loss_xy, self.loss_wh
        if not isinstance(self.bbox_coder, YOLOv4BBoxCoder):
            raise ValueError(f'YOLOv4Head needs bbox_coder of type '
                             f'YOLOv4BBoxCoder, got {bbox_coder["type"]}.')
        if (self.bbox_coder.mode == 'scale_xy'
                and len(self.bbox_coder.scale_x_y) != self.num_levels):
            raise ValueError(f'bbox_coder.scale_x_y needs one value per level '
                             f'({self.num_levels}), got '
                             f'{self.bbox_coder.scale_x_y}.')
        if not 0 <= label_smoothing < 1:
            raise ValueError(f'label_smoothing must lie in [0, 1), got '
                             f'{label_smoothing}.')
        self.train_cfg = train_cfg
        self.assigner = (
            TASK_UTILS.build(train_cfg['assigner']) if train_cfg else None)
        self.loss_bbox_weight = loss_bbox_weight
        self.loss_obj_weight = loss_obj_weight
        self.loss_cls_weight = loss_cls_weight
        self.obj_level_weights = tuple(obj_level_weights)
        self.iou_aware_obj = iou_aware_obj
        self.ignore_iou_thr = ignore_iou_thr
        self.label_smoothing = label_smoothing

    def _flatten(self, pred_maps: Sequence[Tensor]) -> List[Tensor]:
        """Reshape each level to ``(N, H * W * A, 5 + C)``, prior order."""
        return [
            p.permute(0, 2, 3, 1).reshape(p.size(0), -1, self.num_attrib)
            for p in pred_maps
        ]

    def loss_by_feat(
            self,
            pred_maps: Sequence[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Compute the CIoU, objectness and classification losses.

        Args:
            pred_maps (Sequence[Tensor]): Raw outputs of each level, shape
                ``(N, A * (5 + C), H, W)``.
            batch_gt_instances (list[:obj:`InstanceData`]): Per image,
                ``bboxes`` (xyxy, pixels) and ``labels``.
            batch_img_metas (list[dict]): Per image meta information.
            batch_gt_instances_ignore (list[:obj:`InstanceData`], optional):
                Not used.

        Returns:
            dict[str, Tensor]: ``loss_bbox``, ``loss_obj`` and ``loss_cls``.
        """
        if self.assigner is None:
            raise ValueError('YOLOv4Head needs train_cfg=dict(assigner=dict('
                             'type="YOLOv4ShapeAssigner", ...)) to compute '
                             'losses.')
        featmap_sizes = [p.shape[-2:] for p in pred_maps]
        mlvl_priors = self.prior_generator.grid_priors(
            featmap_sizes, device=pred_maps[0].device)
        # Losses in float32 also under mixed precision (--amp).
        mlvl_preds = [p.float() for p in self._flatten(pred_maps)]
        img_gt_bboxes = [get_box_tensor(g.bboxes) for g in batch_gt_instances]
        gt_bboxes = torch.cat(img_gt_bboxes)
        gt_labels = torch.cat([g.labels for g in batch_gt_instances])
        gt_img_inds = torch.cat([
            torch.full_like(g.labels, i)
            for i, g in enumerate(batch_gt_instances)
        ])
        anchor_wh = gt_bboxes.new_tensor(self.prior_generator.base_sizes)
        assignments = self.assigner.assign(gt_bboxes, featmap_sizes,
                                           self.featmap_strides, anchor_wh)

        box_losses, cls_losses, loss_obj = [], [], 0
        for level, (preds, priors, (gt_inds, prior_inds)) in enumerate(
                zip(mlvl_preds, mlvl_priors, assignments)):
            stride = self.featmap_strides[level]
            img_inds = gt_img_inds[gt_inds]
            pos_preds = preds[img_inds, prior_inds]
            pos_bboxes = self.bbox_coder.decode(priors[prior_inds],
                                                pos_preds[:, :4], stride,
                                                level)
            ciou, iou = bbox_ciou(pos_bboxes, gt_bboxes[gt_inds])
            box_losses.append(1 - ciou)

            obj_pos = iou.detach() if self.iou_aware_obj else iou.new_ones(
                iou.shape)
            pos_flat_inds = img_inds * preds.size(1) + prior_inds
            obj_target = preds.new_zeros(preds.shape[:2])
            obj_target.view(-1).scatter_reduce_(0, pos_flat_inds, obj_pos,
                                                'amax')
            obj_weight = torch.ones_like(obj_target)
            if self.ignore_iou_thr is not None:
                bboxes = self.bbox_coder.decode(priors,
                                                preds[..., :4].detach(),
                                                stride, level)
                ignore = self._max_ious(bboxes,
                                        img_gt_bboxes) > self.ignore_iou_thr
                ignore.view(-1)[pos_flat_inds] = False
                obj_weight[ignore] = 0
            loss_obj = loss_obj + self.obj_level_weights[level] * \
                F.binary_cross_entropy_with_logits(
                    preds[..., 4], obj_target, obj_weight, reduction='mean')

            cls_target = torch.full_like(pos_preds[:, 5:],
                                         self.label_smoothing / 2)
            cls_target[torch.arange(len(gt_inds)), gt_labels[gt_inds]] = \
                1 - self.label_smoothing / 2
            cls_losses.append(
                F.binary_cross_entropy_with_logits(
                    pos_preds[:, 5:], cls_target, reduction='none'))

        num_pos = max(sum(len(loss) for loss in box_losses), 1)
        num_imgs = len(batch_img_metas)
        return dict(
            loss_bbox=num_imgs * self.loss_bbox_weight *
            torch.cat(box_losses).sum() / num_pos,
            loss_obj=num_imgs * self.loss_obj_weight * loss_obj,
            loss_cls=num_imgs * self.loss_cls_weight *
            torch.cat(cls_losses).sum() / (num_pos * self.num_classes))

    @staticmethod
    def _max_ious(bboxes: Tensor, img_gt_bboxes: List[Tensor]) -> Tensor:
        """Highest IoU of each ``(N, P, 4)`` box with its image's boxes."""
        return torch.stack([
            bbox_overlaps(img_bboxes, gts).amax(1)
            if len(gts) else img_bboxes.new_zeros(len(img_bboxes))
            for img_bboxes, gts in zip(bboxes, img_gt_bboxes)
        ])

    def predict_by_feat(self,
                        pred_maps: Sequence[Tensor],
                        batch_img_metas: Optional[List[dict]],
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Decode raw outputs into per-image detections.

        Args:
            pred_maps (Sequence[Tensor]): Raw outputs of each level, shape
                ``(N, A * (5 + C), H, W)``.
            batch_img_metas (list[dict]): Per image meta information; needs
                ``scale_factor`` when ``rescale``.
            cfg (dict, optional): Overrides ``test_cfg``. Defaults to None.
            rescale (bool): Return boxes in original image coordinates.
                Defaults to False.
            with_nms (bool): Apply NMS. Defaults to True.

        Returns:
            list[:obj:`InstanceData`]: Per image ``bboxes`` (xyxy),
            ``scores`` and ``labels``.
        """
        cfg = ConfigDict(copy.deepcopy(self.test_cfg if cfg is None else cfg))
        featmap_sizes = [p.shape[-2:] for p in pred_maps]
        mlvl_priors = self.prior_generator.grid_priors(
            featmap_sizes, device=pred_maps[0].device)
        level_inds = torch.cat([
            torch.full((len(p), ), i, device=p.device)
            for i, p in enumerate(mlvl_priors)
        ])
        strides = torch.tensor(self.featmap_strides,
                               device=level_inds.device)[level_inds]
        preds = torch.cat(self._flatten(pred_maps), dim=1)
        batch_bboxes = self.bbox_coder.decode(
            torch.cat(mlvl_priors), preds[..., :4], strides, level_inds)
        batch_obj = preds[..., 4].sigmoid()
        batch_scores = preds[..., 5:].sigmoid() * batch_obj[..., None]

        results_list = []
        for bboxes, scores, obj, img_meta in zip(batch_bboxes, batch_scores,
                                                 batch_obj, batch_img_metas):
            keep = obj >= cfg.get('conf_thr', 0)
            bboxes, scores = bboxes[keep], scores[keep]
            nms_pre = cfg.get('nms_pre', -1)
            scores, labels, keep, _ = filter_scores_and_topk(
                scores, cfg.get('score_thr', 0),
                nms_pre if nms_pre > 0 else scores.numel())
            results = InstanceData(
                bboxes=bboxes[keep], scores=scores, labels=labels)
            results_list.append(
                self._bbox_post_process(
                    results=results,
                    cfg=cfg,
                    rescale=rescale,
                    with_nms=with_nms,
                    img_meta=img_meta))
        return results_list


def _check_levels(in_channels: Sequence[int], out_channels: Sequence[int],
                  featmap_strides: Sequence[int],
                  obj_level_weights: Sequence[float],
                  anchor_generator: ConfigType) -> None:
    """Raise a ValueError naming the fix if the per-level settings differ."""
    strides = list(featmap_strides)
    num_levels = len(strides)
    for name, values in (('in_channels', in_channels),
                         ('out_channels', out_channels),
                         ('obj_level_weights', obj_level_weights)):
        if len(values) != num_levels:
            raise ValueError(f'YOLOv4Head got {len(values)} {name} for '
                             f'{num_levels} featmap_strides {strides}: give '
                             f'one per level.')
    if strides != sorted(set(strides)):
        raise ValueError(f'YOLOv4Head featmap_strides must be ascending '
                         f'(e.g. (8, 16, 32)) with the features in the same '
                         f'order, got {strides}.')
    if list(anchor_generator.get('strides', [])) != strides:
        raise ValueError(f'anchor_generator strides '
                         f'{anchor_generator.get("strides")} must equal '
                         f'featmap_strides {strides}.')
    base_sizes = anchor_generator.get('base_sizes', [])
    if len(base_sizes) != num_levels or len(
            {len(sizes) for sizes in base_sizes}) != 1:
        raise ValueError(f'anchor_generator base_sizes must list the same '
                         f'number of anchors for each of the {num_levels} '
                         f'levels, in ascending stride order, got '
                         f'{base_sizes}.')
