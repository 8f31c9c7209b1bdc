"""Grid-sensitive YOLOv4 / Scaled-YOLOv4 box coder.

Reproduces the decodings of YOLOv4 (arXiv 2004.10934; github.com/AlexeyAB/
darknet ``[yolo] scale_x_y``, public domain) and Scaled-YOLOv4 (CVPR 2021;
github.com/WongKinYiu/ScaledYOLOv4, branch ``yolov4-csp``, GPL-3.0); written
from the papers' formulas, no code copied.
"""
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from mmdet.models.task_modules.coders import BaseBBoxCoder
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import BaseBoxes, HorizontalBoxes, get_box_tensor


@TASK_UTILS.register_module()
class YOLOv4BBoxCoder(BaseBBoxCoder):
    """Decode raw YOLOv4 head outputs into boxes, with grid sensitivity.

    Both published decodings are supported. With ``c`` the cell's top-left
    corner in grid units, ``t`` the raw (pre-sigmoid) outputs and ``A`` the
    anchor size:

    - ``mode='scale_xy'`` (YOLOv4, darknet ``scale_x_y``):
      ``xy = (sigmoid(t) * s - (s - 1) / 2 + c) * stride`` and
      ``wh = exp(t) * A``, with one ``s`` per level (1.2 / 1.1 / 1.05 for
      strides 8 / 16 / 32).
    - ``mode='csp'`` (YOLOv4-CSP, Scaled-YOLOv4):
      ``xy = (2 * sigmoid(t) - 0.5 + c) * stride`` and
      ``wh = (2 * sigmoid(t)) ** 2 * A``.

    The priors are anchors as :class:`YOLOAnchorGenerator` makes them: xyxy
    boxes centred on the cell centre ``(c + 0.5) * stride``. Relative to that
    centre both forms read ``xy = centre + s * (sigmoid(t) - 0.5) * stride``,
    with ``s = 2`` in ``csp`` mode, which is how they are computed here. A
    centre can thus move ``s / 2`` cells either way from the cell centre, so
    it reaches the cell borders (``s > 1``) and, in ``csp`` mode, half of
    each neighbour cell.

    :meth:`decode` takes the raw outputs (it applies the sigmoid itself) and
    :meth:`encode` returns raw outputs, its exact inverse where one exists:
    centres out of reach are clamped to the reachable range (sigmoid in
    ``[eps, 1 - eps]``), and so are sizes: ``csp`` reaches at most 4 times
    the anchor, ``scale_xy`` is limited to ``[wh_ratio_clip,
    1 / wh_ratio_clip]`` times the anchor (this also keeps ``exp`` finite
    when decoding).

    Args:
        mode (str): ``'csp'`` (YOLOv4-CSP) or ``'scale_xy'`` (YOLOv4).
            Defaults to ``'csp'``.
        scale_x_y (Sequence[float]): Per-level ``s`` of ``scale_xy`` mode, in
            the head's level order (ascending strides). Unused in ``csp``
            mode. Defaults to ``(1.2, 1.1, 1.05)``.
        wh_ratio_clip (float): In ``scale_xy`` mode, the raw size output is
            clamped to ``[log(wh_ratio_clip), -log(wh_ratio_clip)]``.
            Defaults to ``16 / 1000`` as in mmdet's delta coders.
        eps (float): Margin that keeps encoded sigmoid targets inside
            ``(0, 1)``. Defaults to ``1e-6``.
        use_box_type (bool): Whether :meth:`decode` wraps its output in
            :class:`HorizontalBoxes`. Defaults to False.

    Example:
        >>> coder = YOLOv4BBoxCoder(mode='csp')
        >>> anchor = torch.tensor([[-2., -4., 10., 20.]])  # centre (4, 8)
        >>> coder.decode(anchor, torch.zeros(1, 4), stride=8)
        tensor([[-2., -4., 10., 20.]])
    """

    MODES = ('csp', 'scale_xy')

    def __init__(self,
                 mode: str = 'csp',
                 scale_x_y: Sequence[float] = (1.2, 1.1, 1.05),
                 wh_ratio_clip: float = 16 / 1000,
                 eps: float = 1e-6,
                 use_box_type: bool = False) -> None:
        super().__init__(use_box_type=use_box_type)
        if mode not in self.MODES:
            raise ValueError(f'YOLOv4BBoxCoder mode must be one of '
                             f'{self.MODES}, got {mode!r}: use "csp" for '
                             f'YOLOv4-CSP or "scale_xy" for YOLOv4.')
        if any(s <= 0 for s in scale_x_y):
            raise ValueError(f'scale_x_y must be positive (YOLOv4 uses '
                             f'(1.2, 1.1, 1.05)), got {tuple(scale_x_y)}.')
        if not 0 < wh_ratio_clip < 1:
            raise ValueError(f'wh_ratio_clip must lie in (0, 1), got '
                             f'{wh_ratio_clip}.')
        self.mode = mode
        self.scale_x_y = tuple(float(s) for s in scale_x_y)
        self.max_log_ratio = -math.log(wh_ratio_clip)
        self.eps = eps

    def _xy_scale(self, level_inds: Optional[Union[int, Tensor]],
                  ref: Tensor) -> Tensor:
        """Return ``s`` for each prior, shaped to broadcast against xy."""
        if self.mode == 'csp':
            return ref.new_tensor(2.)
        if level_inds is None:
            raise ValueError('YOLOv4BBoxCoder in "scale_xy" mode needs '
                             'level_inds to pick each prior\'s scale_x_y.')
        return _as_column(ref.new_tensor(self.scale_x_y)[level_inds], ref)

    def decode(self,
               priors: Union[Tensor, BaseBoxes],
               pred_bboxes: Tensor,
               stride: Union[int, float, Tensor],
               level_inds: Optional[Union[int, Tensor]] = None
               ) -> Union[Tensor, BaseBoxes]:
        """Turn raw head outputs into xyxy boxes.

        Args:
            priors (Tensor or :obj:`BaseBoxes`): Anchors, xyxy, shape
                ``(..., 4)``, centred on their cell centres.
            pred_bboxes (Tensor): Raw outputs ``(tx, ty, tw, th)`` before
                any sigmoid, shape ``(..., 4)``.
            stride (int, float or Tensor): Stride of the priors' level; a
                tensor gives one stride per prior, shape ``(...)``.
            level_inds (int or Tensor, optional): Level index of the priors
                (or one per prior, shape ``(...)``) into ``scale_x_y``.
                Required in ``scale_xy`` mode, ignored in ``csp`` mode.

        Returns:
            Tensor or :obj:`HorizontalBoxes`: Decoded xyxy boxes, shape
            ``(..., 4)``.
        """
        priors = get_box_tensor(priors)
        stride = _as_column(stride, pred_bboxes)
        scale = self._xy_scale(level_inds, pred_bboxes)
        centres = (priors[..., :2] + priors[..., 2:]) / 2
        anchor_wh = priors[..., 2:] - priors[..., :2]
        xy = centres + scale * (pred_bboxes[..., :2].sigmoid() - 0.5) * stride
        if self.mode == 'csp':
            wh = (2 * pred_bboxes[..., 2:].sigmoid())**2 * anchor_wh
        else:
            wh = pred_bboxes[..., 2:].clamp(
                -self.max_log_ratio, self.max_log_ratio).exp() * anchor_wh
        bboxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=-1)
        return HorizontalBoxes(bboxes) if self.use_box_type else bboxes

    def encode(self,
               priors: Union[Tensor, BaseBoxes],
               gt_bboxes: Union[Tensor, BaseBoxes],
               stride: Union[int, float, Tensor],
               level_inds: Optional[Union[int, Tensor]] = None) -> Tensor:
        """Return the raw outputs that :meth:`decode` maps to ``gt_bboxes``.

        Args:
            priors (Tensor or :obj:`BaseBoxes`): Anchors, xyxy, shape
                ``(..., 4)``.
            gt_bboxes (Tensor or :obj:`BaseBoxes`): Target xyxy boxes,
                shape ``(..., 4)``.
            stride (int, float or Tensor): As in :meth:`decode`.
            level_inds (int or Tensor, optional): As in :meth:`decode`.

        Returns:
            Tensor: Raw outputs ``(tx, ty, tw, th)``, shape ``(..., 4)``,
            clamped to the reachable range as the class docstring says.
        """
        priors = get_box_tensor(priors)
        gt_bboxes = get_box_tensor(gt_bboxes)
        stride = _as_column(stride, gt_bboxes)
        scale = self._xy_scale(level_inds, gt_bboxes)
        centres = (priors[..., :2] + priors[..., 2:]) / 2
        anchor_wh = priors[..., 2:] - priors[..., :2]
        gt_xy = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2
        gt_wh = gt_bboxes[..., 2:] - gt_bboxes[..., :2]
        sig_xy = (gt_xy - centres) / (scale * stride) + 0.5
        t_xy = torch.logit(sig_xy.clamp(self.eps, 1 - self.eps))
        if self.mode == 'csp':
            sig_wh = (gt_wh / anchor_wh).clamp(min=0).sqrt() / 2
            t_wh = torch.logit(sig_wh.clamp(self.eps, 1 - self.eps))
        else:
            t_wh = torch.log((gt_wh / anchor_wh).clamp(min=self.eps)).clamp(
                -self.max_log_ratio, self.max_log_ratio)
        return torch.cat([t_xy, t_wh], dim=-1)


def _as_column(value: Union[int, float, Tensor], ref: Tensor) -> Tensor:
    """Make a scalar or per-prior ``(...)`` value broadcast over xy/wh."""
    value = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    return value.unsqueeze(-1) if value.dim() > 0 else value
