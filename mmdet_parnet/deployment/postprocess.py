"""Decoding and NMS of raw head maps: the head's own ``predict_by_feat``, or
the same with a top-k selection instead of a full sort.

mmdet's ``filter_scores_and_topk`` sorts every score above ``score_thr``
before keeping ``nms_pre`` of them. With a low threshold (0.001, the COCO
test setting) nearly every (prior, class) pair passes: 25,200 priors x 80
classes = 2M scores at 640, a 264 ms sort for a 1.6 ms NMS.
:class:`TopkPostProcessor` runs the head's own ``predict_by_feat``
(decoding, clipping, NMS: whatever the head does) with mmdet's
``filter_scores_and_topk`` swapped, inside the call, for
:func:`fast_filter_scores_and_topk`: ``torch.topk`` finds the ``nms_pre``-th
best score and only the scores that can make the cut are sorted. Same
selection, same order (tested), so the same boxes.
"""
import sys
from contextlib import contextmanager
from typing import Tuple

import torch
from torch import Tensor

POSTPROCESS = ('topk', 'head')


def topk_scores(scores: Tensor, score_thr: float,
                topk: int) -> Tuple[Tensor, Tensor, Tensor]:
    """``filter_scores_and_topk(scores, score_thr, topk)[:3]``, fast:
    (scores, labels, prior indices) of the ``topk`` best scores above
    ``score_thr``, best first.

    ``torch.topk`` finds the ``topk``-th best score; only the scores at or
    above it (ties included) are sorted, in mmdet's (row-major) order and
    with the same sort, so that tied scores (the padded border's priors
    have identical ones) come out in mmdet's order and NMS keeps the same
    boxes.
    """
    num_classes = scores.size(1)
    flat = scores.reshape(-1)
    valid = torch.nonzero(flat > score_thr).squeeze(1)
    values = flat[valid]
    if values.numel() > topk:
        kth = values.topk(topk, sorted=False).values.min()
        above = values >= kth
        valid, values = valid[above], values[above]
    values, order = values.sort(descending=True)
    values, valid = values[:topk], valid[order[:topk]]
    return values, valid % num_classes, valid // num_classes


def fast_filter_scores_and_topk(scores: Tensor, score_thr: float,
                                topk: int, results=None):
    """Drop-in for mmdet's ``filter_scores_and_topk``, same outputs (same
    selection, same order) via :func:`topk_scores`."""
    scores, labels, keep = topk_scores(scores, score_thr, topk)
    filtered = None
    if isinstance(results, dict):
        filtered = {k: v[keep] for k, v in results.items()}
    elif isinstance(results, list):
        filtered = [r[keep] for r in results]
    elif isinstance(results, Tensor):
        filtered = results[keep]
    return scores, labels, keep, filtered


@contextmanager
def fast_topk(head):
    """Within the block, the module of ``head``'s class uses
    :func:`fast_filter_scores_and_topk` in place of mmdet's
    ``filter_scores_and_topk`` (restored on exit; not thread-safe)."""
    module = sys.modules[type(head).__module__]
    original = getattr(module, 'filter_scores_and_topk', None)
    if original is None:
        yield
        return
    module.filter_scores_and_topk = fast_filter_scores_and_topk
    try:
        yield
    finally:
        module.filter_scores_and_topk = original


class TopkPostProcessor:
    """The head's own ``predict_by_feat`` (decoding, clipping, NMS) with the
    candidate selection of :func:`fast_filter_scores_and_topk`."""

    def __init__(self, head) -> None:
        self.head = head

    def __call__(self, pred_maps, batch_img_metas, cfg=None, rescale=True):
        with fast_topk(self.head):
            return self.head.predict_by_feat(
                pred_maps, batch_img_metas, cfg=cfg, rescale=rescale)


class HeadPostProcessor:
    """The head's own ``predict_by_feat``, unchanged."""

    def __init__(self, head) -> None:
        self.head = head

    def __call__(self, pred_maps, batch_img_metas, cfg=None, rescale=True):
        return self.head.predict_by_feat(
            pred_maps, batch_img_metas, cfg=cfg, rescale=rescale)


def build_postprocessor(head, kind: str = 'topk'):
    if kind == 'topk':
        return TopkPostProcessor(head)
    if kind == 'head':
        return HeadPostProcessor(head)
    raise ValueError(f'postprocess must be one of {POSTPROCESS}, got '
                     f'{kind!r}')
