"""YOLOv4ShapeAssigner: positives computed by hand in both modes."""
import pytest
import torch

from mmdet_parnet.models import YOLOv4ShapeAssigner
from tests.utils import ANCHOR_WH, SIZES, STRIDES, box

NUM_ANCHORS = 3


def positives(assignments):
    """Turn the assigner's output into {(level, gt, x, y, anchor)}."""
    found = set()
    for level, (gt_inds, prior_inds) in enumerate(assignments):
        width = SIZES[level][1]
        for gt, prior in zip(gt_inds.tolist(), prior_inds.tolist()):
            cell, anchor = divmod(prior, NUM_ANCHORS)
            found.add((level, gt, cell % width, cell // width, anchor))
    return found



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
