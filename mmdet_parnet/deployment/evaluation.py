"""Judging a deployed model: raw-output drift and box agreement against a
reference, and COCO mAP on a config's test set with mmdet's own dataset and
metric (the same numbers ``tools/test.py`` gives the PyTorch model)."""
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import DATASETS
from mmdet.structures.bbox import bbox_overlaps
from mmengine.evaluator import Evaluator


def compare_outputs(reference: Sequence, other: Sequence) -> Dict[str, float]:
    """Max abs difference of the raw maps, and that over the reference's
    largest magnitude (``rel``: the drift relative to the outputs' scale)."""
    ref = [np.asarray(torch.as_tensor(r).float()) for r in reference]
    oth = [np.asarray(torch.as_tensor(o).float()) for o in other]
    if [r.shape for r in ref] != [o.shape for o in oth]:
        raise ValueError(f'output shapes differ: {[r.shape for r in ref]} vs '
                         f'{[o.shape for o in oth]}')
    max_abs = max(float(np.abs(r - o).max()) for r, o in zip(ref, oth))
    scale = max(float(np.abs(r).max()) for r in ref)
    mean_abs = float(np.mean([np.abs(r - o).mean() for r, o in zip(ref,
                                                                    oth)]))
    return dict(max_abs=max_abs, rel=max_abs / max(scale, 1e-12),
                mean_abs=mean_abs, scale=scale)


def match_detections(reference, other, score_thr: float = 0.0,
                     iou_thr: float = 0.5) -> Dict[str, float]:
    """How many of the reference's boxes (``InstanceData`` with bboxes,
    scores, labels; those scoring at least ``score_thr``) have a box of the
    same class in ``other`` overlapping it by ``iou_thr`` or more (or
    within a pixel of it):
    ``kept`` (fraction), ``count`` of each, ``max_abs`` box coordinate
    difference of the matched boxes (pixels)."""
    keep = reference.scores >= score_thr
    ref_boxes, ref_labels = reference.bboxes[keep], reference.labels[keep]
    out = dict(count=int(keep.sum()), count_other=len(other.bboxes),
               kept=1.0, max_abs=0.0)
    if not len(ref_boxes):
        return out
    if not len(other.bboxes):
        return dict(out, kept=0.0, max_abs=float('inf'))
    ious = bbox_overlaps(ref_boxes, other.bboxes)
    # Boxes clipped to the image border can have no area (IoU 0 even with
    # themselves): within a pixel counts as the same box.
    near = (ref_boxes[:, None] - other.bboxes[None]).abs().amax(-1) <= 1.0
    ious[near] = 1.0
    ious[ref_labels[:, None] != other.labels[None, :]] = 0
    best, index = ious.max(1)
    matched = best >= iou_thr
    out['kept'] = float(matched.float().mean())
    if matched.any():
        out['max_abs'] = float(
            (ref_boxes[matched] - other.bboxes[index[matched]]).abs().max())
    return out


def build_test_set(cfg):
    """The config's test dataset and its evaluator (``test_evaluator``)."""
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    return dataset, evaluator


def evaluate(detector,
             max_images: Optional[int] = None,
             batch_size: int = 1,
             log_every: int = 0,
             dataset=None) -> Dict[str, float]:
    """COCO metrics of ``detector`` (a :class:`~.runtime.DeployedDetector`)
    on its config's test set, with the config's ``test_evaluator``.

    ``max_images`` evaluates the first images only, against their own
    ground truth (the metric's image ids are restricted to them).
    """
    if dataset is None:
        dataset, evaluator = build_test_set(detector.cfg)
    else:
        evaluator = Evaluator(detector.cfg.test_evaluator)
        evaluator.dataset_meta = dataset.metainfo
    count = len(dataset) if max_images is None else min(
        max_images, len(dataset))
    if count == 0:
        raise ValueError('the test set of the config is empty')
    img_ids: List = []
    start = time.perf_counter()
    for first in range(0, count, batch_size):
        items = [dataset[i] for i in range(first,
                                           min(count, first + batch_size))]
        samples = detector.run_packed(items)
        img_ids += [s.img_id for s in samples]
        evaluator.process(data_samples=samples, data_batch=None)
        if log_every and (first // batch_size) % log_every == 0:
            print(f'  {first + len(items)}/{count} images, '
                  f'{time.perf_counter() - start:.0f} s', flush=True)
    if count < len(dataset):
        for metric in evaluator.metrics:
            if hasattr(metric, 'img_ids'):
                metric.img_ids = img_ids
    return evaluator.evaluate(count)
