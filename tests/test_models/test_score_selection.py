"""topk_scores selects what mmdet's filter_scores_and_topk selects, in the
same order; the head's decoding uses it and gives the boxes it would give
with mmdet's selection."""
import pytest
import torch
from mmdet.models.utils import filter_scores_and_topk

from mmdet_parnet.models import topk_scores, yolov4_head
from tests.utils import tiny_detector


def mmdet_selection(scores, score_thr, topk):
    return filter_scores_and_topk(scores, score_thr, topk)[:3]


@pytest.mark.parametrize('score_thr,topk', [(0.001, 200), (0.0, 10_000),
                                            (0.5, 1000), (0.3, 1)])
def test_topk_scores_equals_mmdet(score_thr, topk):
    torch.manual_seed(0)
    scores = (torch.randperm(15000).float() / 15000).reshape(3000, 5)
    expected = mmdet_selection(scores, score_thr, topk)
    got = topk_scores(scores, score_thr, topk)
    for e, g in zip(expected, got):
        assert torch.equal(g, e)


def test_topk_scores_with_ties_at_the_cut():
    """Equal scores straddling the cut (the padded border's identical
    priors give them): the same scores in the same order, the same entries
    above the tie; which of the tied entries make the cut is arbitrary in
    mmdet too (its sort is not stable)."""
    torch.manual_seed(0)
    scores = torch.rand(3000, 5)
    tie = scores.flatten().sort(descending=True).values[150]
    scores[100:400] = tie
    (e_scores, e_labels, e_keep), (g_scores, g_labels, g_keep) = (
        mmdet_selection(scores, 0.001, 200), topk_scores(scores, 0.001, 200))
    assert torch.equal(g_scores, e_scores)
    above = e_scores > tie
    assert above.sum() > 0 and (~above).sum() > 0
    assert set(zip(g_keep[above].tolist(), g_labels[above].tolist())) == set(
        zip(e_keep[above].tolist(), e_labels[above].tolist()))
    assert (scores[g_keep[~above], g_labels[~above]] == tie).all()


def test_topk_scores_nothing_above_threshold():
    scores, labels, keep = topk_scores(torch.full((10, 3), 0.2), 0.5, 5)
    assert scores.numel() == labels.numel() == keep.numel() == 0


def test_head_decoding_selects_with_topk_scores(monkeypatch):
    head = tiny_detector().bbox_head.eval()
    torch.manual_seed(0)
    maps = [torch.randn(2, head.num_base_priors * head.num_attrib, s, s)
            for s in (32, 16, 8)]
    metas = [dict(img_shape=(256, 256), ori_shape=(512, 384),
                  scale_factor=(0.75, 0.5))] * 2
    cfg = dict(head.test_cfg, score_thr=0.01, conf_thr=0.001, nms_pre=300)
    calls = []

    def spy(*args):
        calls.append(args[1:])
        return topk_scores(*args)

    monkeypatch.setattr(yolov4_head, 'topk_scores', spy)
    got = head.predict_by_feat(maps, metas, cfg=cfg, rescale=True)
    assert calls == [(0.01, 300)] * 2
    monkeypatch.setattr(yolov4_head, 'topk_scores', mmdet_selection)
    expected = head.predict_by_feat(maps, metas, cfg=cfg, rescale=True)
    for e, g in zip(expected, got):
        assert len(g) == len(e) > 0
        assert torch.equal(g.bboxes, e.bboxes)
        assert torch.equal(g.labels, e.labels)
