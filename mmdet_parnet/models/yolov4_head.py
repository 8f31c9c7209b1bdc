"""YOLOv4 / YOLOv4-CSP detection head: shape-based multi-anchor assignment,
CIoU box loss, IoU-aware objectness and grid-sensitive decoding.

Reproduces the head and loss of:

* YOLOv4 -- Bochkovskiy, Wang, Liao, arXiv 2004.10934; code:
  github.com/AlexeyAB/darknet (``cfg/yolov4.cfg`` ``[yolo]`` sections,
  ``src/yolo_layer.c``), public domain (YOLO licence).
* Scaled-YOLOv4 (YOLOv4-CSP) -- Wang, Bochkovskiy, Liao, CVPR 2021; code:
  github.com/WongKinYiu/ScaledYOLOv4, branch ``yolov4-csp``
  (``utils/loss.py`` ``compute_loss``, ``data/hyp.scratch.yaml``,
  ``train.py``), GPL-3.0.

Written from the papers and the rules those codes document; no code is copied.
"""
import copy
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.dist import get_world_size
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import YOLOV3Head
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor, scale_boxes
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList)
from .losses import bbox_ciou
from .score_selection import topk_scores
from .yolov4_bbox_coder import YOLOv4BBoxCoder

# The nine YOLOv4 anchors (w, h) in pixels, for strides 8, 16 and 32.
YOLOV4_ANCHORS = [[(12, 16), (19, 36), (40, 28)],
                  [(36, 75), (76, 55), (72, 146)],
                  [(142, 110), (192, 243), (459, 401)]]

# darknet's ignore rule also asks for some class probability above this
# (``compare_yolo_class(..., 0.25f)`` in ``src/yolo_layer.c``).
DARKNET_IGNORE_CLS_PROB = 0.25


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


@MODELS.register_module()
class YOLOv4Head(YOLOV3Head):
    """YOLOv4 head (Bochkovskiy et al. 2020) in its YOLOv4-CSP form
    (Scaled-YOLOv4, Wang et al. 2021) or its darknet YOLOv4 form.

    Per level, as :class:`YOLOV3Head` (whose layers, prior-bias init and
    forward are reused; its loss modules are not built): a 3x3 ConvModule,
    then a 1x1 conv to ``num_anchors * (5 + num_classes)`` raw outputs per
    cell, ordered ``(tx, ty, tw, th, objectness, classes...)`` per anchor.
    Levels come in ascending stride order (8, 16, 32), as newer mmdet necks
    emit them.

    **Loss, YOLOv4-CSP form** (the defaults, with a ``ratio``
    :class:`YOLOv4ShapeAssigner` and a ``csp`` :class:`YOLOv4BBoxCoder`):
    Scaled-YOLOv4's ``compute_loss`` with the gains of its released
    ``hyp.scratch.yaml``. With, on level ``l``, ``P_l`` the positive
    (box, prior) pairs of the whole batch (the assigner's), ``N_l`` the
    number of priors of the batch (images x anchors x cells), ``B`` the
    images in the batch and ``W`` the number of processes
    (``mmengine.dist.get_world_size()``):

    - ``loss_bbox = W * B * loss_bbox_weight * sum_l mean_{P_l} (1 - CIoU)``
      between each positive's decoded box and its box (levels without
      positives add 0);
    - ``loss_obj = W * B * loss_obj_weight * sum_l w_l * mean_{N_l}
      BCE(o, t)`` over every prior, ``w_l = obj_level_weights[l]``; ``t = 0``
      for negatives and, for a positive, ``t = max(CIoU, 0)`` (detached;
      the reference's ``gr = 1``) or ``1`` with ``iou_aware_obj=False``;
    - ``loss_cls = W * B * loss_cls_weight * sum_l mean_{P_l x C}
      BCE(c, y)``, ``y`` one-hot (``1 - eps / 2`` and ``eps / 2`` with
      ``label_smoothing=eps``; the reference uses ``eps = 0``);
      ``loss_cls = 0`` for a single class (``num_classes == 1``), as in
      the reference.

    So a positive of a level with few positives weighs more than one of a
    crowded level, as in the reference. ``B``: Scaled-YOLOv4 returns
    ``loss * batch_size``. ``W``: its ``train.py`` multiplies the loss by
    the world size, which undoes DDP's averaging of the gradients: the
    gradient is the sum over the processes. The rest of its multi-GPU
    rule (gradients accumulated to a nominal batch of 64 images, weight
    decay scaled by ``total_batch * accumulate / 64``) is
    :class:`~mmdet_parnet.engine.NominalBatchHook`'s.

    Reproduced to float32 precision (values and gradients, tested against
    the formulas): the positives, the decoding, the CIoU (``alpha``
    detached; computed in pixels, which equals the reference's grid units:
    CIoU is scale invariant), the targets, the per-level reductions, the
    level weights (4.0, 1.0, 0.4) and the gains (box 0.05, obj 0.7,
    cls 0.3). The class gain is used as given: the reference multiplies
    ``hyp['cls']`` by ``num_classes / 80`` in ``train.py``, and so do the
    configs (``loss_cls_weight=0.3 * num_classes / 80``), not the head.
    Not reproduced:

    - a prior positive for several boxes: the reference writes their
      objectness targets with one indexed assignment, which keeps one of
      them, unspecified which (PyTorch leaves duplicate indices
      undefined); here the highest target wins. Each (box, prior) pair
      counts in the box and class losses, as in the reference;
    - for other than three levels the reference also multiplies every gain
      by ``3 / num_levels`` (and objectness by 1.4 for four or more levels);
      not applied here, set the weights for such heads in the config.

    **Loss, darknet YOLOv4 form** (an ``iou`` assigner, a ``scale_xy``
    coder, ``iou_aware_obj=False``, ``ignore_iou_thr=0.7``), against the
    ``[yolo]`` settings of darknet's ``cfg/yolov4.cfg``: the same positives
    (``iou_thresh=0.213``: the best of the nine anchors plus every anchor of
    shape IoU > 0.213, centre cell only), decoding (``scale_x_y`` 1.2 / 1.1
    / 1.05, ``exp`` sizes), objectness target 1, class targets (its
    ``label_smooth_eps`` smoothing is the formula above) and ignore rule
    (``ignore_thresh=0.7``: a negative whose decoded box has an IoU above
    0.7 with some box of its image and some class probability above 0.25
    gets no objectness loss; ``truth_thresh=1`` does nothing). Differences,
    each kept on purpose:

    - normalisation: darknet sums every term over the priors and positives
      of all levels, unweighted (``obj_normalizer=1``,
      ``cls_normalizer=1.0``, which only acts with ``counters_per_class``),
      and its update divides the sum by the images of the batch; here the
      reduction and gains above apply (per-level means, ``w_l``, gains, x
      images). An ignored prior still counts in its level's mean;
    - box gradient: darknet passes its hand-written CIoU derivative
      (``dx_box_iou``) times ``iou_normalizer=0.07`` straight to the raw
      outputs, without the sigmoid's derivative for x, y (``exp(t)`` for w,
      h), each clipped to ``max_delta=5``; here the box loss is
      ``loss_bbox_weight * (1 - CIoU)`` differentiated exactly, unclipped;
    - a prior positive for several boxes: darknet adds their box gradients
      and divides the sum by the number of classes with a positive class
      gradient there (``averages_yolo_deltas``), and targets all their
      classes with 1 in the prior's one class row; here each (box, prior)
      pair counts once, with its own one-hot row (as Scaled-YOLOv4);
    - test: darknet's ``nms_kind=greedynms`` is plain NMS (``beta_nms``
      only acts for DIoU-NMS) at the threshold given on its command line;
      ``test_cfg`` sets it here.

    ``batch_gt_instances_ignore`` is not used. Images without boxes add only
    objectness terms that push every prior down.

    **Testing** (``predict_by_feat``): boxes decoded by ``bbox_coder`` and
    clipped to the image (``img_shape``; after ``rescale``, also to
    ``ori_shape``); score = sigmoid(objectness) * sigmoid(class), or
    sigmoid(objectness) alone for a single class, whose class output is not
    trained (the reference still multiplies by it); ``test_cfg`` keys
    ``conf_thr`` (objectness threshold, optional), ``score_thr`` (on the
    score), ``nms_pre`` (top-k before NMS, optional), ``nms`` and
    ``max_per_img``.

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
        loss_bbox_weight (float): Box gain. Defaults to 0.05
            (``hyp.scratch.yaml`` ``box``).
        loss_obj_weight (float): Objectness gain. Defaults to 0.7
            (``hyp.scratch.yaml`` ``obj``).
        loss_cls_weight (float): Class gain, used as given. Defaults to 0.3
            (``hyp.scratch.yaml`` ``cls``, for 80 classes; Scaled-YOLOv4
            uses ``0.3 * num_classes / 80``, which configs set).
        obj_level_weights (Sequence[float]): Objectness weight of each level.
            Defaults to (4.0, 1.0, 0.4).
        iou_aware_obj (bool): Objectness target of positives is their
            CIoU clamped at 0 (True, YOLOv4-CSP) or 1 (False, YOLOv4).
            Defaults to True.
        ignore_iou_thr (float, optional): darknet's ``ignore_thresh`` (0.7 in
            ``yolov4.cfg``); None disables the ignore rule. Defaults to None.
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
                 loss_obj_weight: float = 0.7,
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
        if num_classes < 1:
            raise ValueError(f'YOLOv4Head num_classes must be the number '
                             f'of classes of the data set (>= 1), got '
                             f'{num_classes}.')
        if not 0 <= label_smoothing < 1:
            raise ValueError(f'label_smoothing must lie in [0, 1), got '
                             f'{label_smoothing}.')
        # YOLOV3Head.__init__ would also build YOLOv3's four loss modules
        # (and a sampler); set up only what its layers, init and forward use.
        BaseDenseHead.__init__(self, init_cfg=None)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.featmap_strides = featmap_strides
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        if not isinstance(self.bbox_coder, YOLOv4BBoxCoder):
            raise ValueError(f'YOLOv4Head needs bbox_coder of type '
                             f'YOLOv4BBoxCoder, got {bbox_coder["type"]}.')
        self.prior_generator = TASK_UTILS.build(anchor_generator)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        if (self.bbox_coder.mode == 'scale_xy'
                and len(self.bbox_coder.scale_x_y) != self.num_levels):
            raise ValueError(f'bbox_coder.scale_x_y needs one value per level '
                             f'({self.num_levels}), got '
                             f'{self.bbox_coder.scale_x_y}.')
        self.assigner = (
            TASK_UTILS.build(train_cfg['assigner']) if train_cfg else None)
        self.loss_bbox_weight = loss_bbox_weight
        self.loss_obj_weight = loss_obj_weight
        self.loss_cls_weight = loss_cls_weight
        self.obj_level_weights = tuple(obj_level_weights)
        self.iou_aware_obj = iou_aware_obj
        self.ignore_iou_thr = ignore_iou_thr
        self.label_smoothing = label_smoothing
        self._init_layers()

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
        """Compute the CIoU, objectness and classification losses, reduced
        per level as the class docstring says.

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

        loss_bbox = loss_obj = loss_cls = mlvl_preds[0].new_zeros(())
        for level, (preds, priors, (gt_inds, prior_inds)) in enumerate(
                zip(mlvl_preds, mlvl_priors, assignments)):
            obj_target = preds.new_zeros(preds.shape[:2])
            img_inds = gt_img_inds[gt_inds]
            pos_flat_inds = img_inds * preds.size(1) + prior_inds
            if len(gt_inds):
                pos_preds = preds[img_inds, prior_inds]
                pos_bboxes = self.bbox_coder.decode(
                    priors[prior_inds], pos_preds[:, :4],
                    self.featmap_strides[level], level)
                ciou = bbox_ciou(pos_bboxes, gt_bboxes[gt_inds])[0]
                loss_bbox = loss_bbox + (1 - ciou).mean()
                obj_pos = (ciou.detach().clamp(min=0)
                           if self.iou_aware_obj else torch.ones_like(ciou))
                # A prior positive for several boxes: the highest target.
                obj_target.view(-1).scatter_reduce_(0, pos_flat_inds,
                                                    obj_pos, 'amax')
                if self.num_classes > 1:
                    loss_cls = loss_cls + F.binary_cross_entropy_with_logits(
                        pos_preds[:, 5:],
                        self._class_targets(pos_preds, gt_labels[gt_inds]))
            obj_weight = None
            if self.ignore_iou_thr is not None:
                obj_weight = self._darknet_obj_weights(
                    preds, priors, level, img_gt_bboxes, pos_flat_inds)
            loss_obj = loss_obj + self.obj_level_weights[level] * \
                F.binary_cross_entropy_with_logits(
                    preds[..., 4], obj_target, obj_weight)

        scale = len(batch_img_metas) * get_world_size()
        return dict(
            loss_bbox=scale * self.loss_bbox_weight * loss_bbox,
            loss_obj=scale * self.loss_obj_weight * loss_obj,
            loss_cls=scale * self.loss_cls_weight * loss_cls)

    def _class_targets(self, pos_preds: Tensor, labels: Tensor) -> Tensor:
        """One-hot targets with label smoothing: ``1 - eps / 2`` for the
        box's class, ``eps / 2`` for the others."""
        targets = torch.full_like(pos_preds[:, 5:], self.label_smoothing / 2)
        targets[torch.arange(len(labels)), labels] = \
            1 - self.label_smoothing / 2
        return targets

    def _darknet_obj_weights(self, preds: Tensor, priors: Tensor, level: int,
                             img_gt_bboxes: List[Tensor],
                             pos_flat_inds: Tensor) -> Tensor:
        """darknet's ignore rule as objectness weights of shape ``(N, P)``:
        0 for a negative whose decoded box has an IoU above
        ``ignore_iou_thr`` with some box of its image and some class
        probability above 0.25, else 1."""
        preds = preds.detach()
        bboxes = self.bbox_coder.decode(priors, preds[..., :4],
                                        self.featmap_strides[level], level)
        ignore = (self._max_ious(bboxes, img_gt_bboxes) > self.ignore_iou_thr
                  ) & (preds[..., 5:].sigmoid().amax(-1) >
                       DARKNET_IGNORE_CLS_PROB)
        ignore.view(-1)[pos_flat_inds] = False
        return (~ignore).float()

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
        """Decode raw outputs into per-image detections inside the image.

        Candidates above ``conf_thr`` (objectness) and ``score_thr`` are cut
        to the ``nms_pre`` best with :func:`topk_scores` (mmdet's selection
        without its full sort), then go through the config's NMS.

        Args:
            pred_maps (Sequence[Tensor]): Raw outputs of each level, shape
                ``(N, A * (5 + C), H, W)``.
            batch_img_metas (list[dict]): Per image meta information: needs
                ``img_shape``, and ``scale_factor`` and ``ori_shape`` when
                ``rescale``.
            cfg (dict, optional): Overrides ``test_cfg``. Defaults to None.
            rescale (bool): Return boxes in original image coordinates.
                Defaults to False.
            with_nms (bool): Apply NMS. Defaults to True.

        Returns:
            list[:obj:`InstanceData`]: Per image ``bboxes`` (xyxy, clipped to
            ``img_shape``, or to ``ori_shape`` when ``rescale``), ``scores``
            and ``labels``.
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
        # A single class is not trained (no class loss): objectness alone.
        batch_scores = batch_obj[..., None] if self.num_classes == 1 else \
            preds[..., 5:].sigmoid() * batch_obj[..., None]

        results_list = []
        for bboxes, scores, obj, img_meta in zip(batch_bboxes, batch_scores,
                                                 batch_obj, batch_img_metas):
            keep = obj >= cfg.get('conf_thr', 0)
            bboxes, scores = bboxes[keep], scores[keep]
            nms_pre = cfg.get('nms_pre', -1)
            scores, labels, keep = topk_scores(
                scores, cfg.get('score_thr', 0),
                nms_pre if nms_pre > 0 else scores.numel())
            bboxes = _clip(bboxes[keep], img_meta['img_shape'])
            if rescale:
                bboxes = _clip(
                    scale_boxes(bboxes,
                                [1 / s for s in img_meta['scale_factor']]),
                    img_meta['ori_shape'])
            results = InstanceData(bboxes=bboxes, scores=scores, labels=labels)
            results_list.append(
                self._bbox_post_process(
                    results=results,
                    cfg=cfg,
                    rescale=False,
                    with_nms=with_nms,
                    img_meta=img_meta))
        return results_list


def _clip(bboxes: Tensor, shape: Sequence[int]) -> Tensor:
    """Clip xyxy boxes to an image of ``shape`` ``(h, w, ...)``."""
    height, width = shape[:2]
    return torch.stack([
        bboxes[:, 0].clamp(0, width), bboxes[:, 1].clamp(0, height),
        bboxes[:, 2].clamp(0, width), bboxes[:, 3].clamp(0, height)
    ], dim=1)
