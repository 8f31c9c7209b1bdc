"""Parameters and FLOPs, counted one way for every tool.

FLOPs are counted by mmengine's ``FlopAnalyzer`` (convolutions, linear
layers, BN and pooling; elementwise work is not counted), which reports one
multiply-add as one FLOP, as mmdet does. The ParNet and darknet papers count
GFLOPs as 2 x multiply-adds; :func:`count_complexity` returns multiply-adds
and the tools print both where they compare with a paper.
"""
import time
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

from ..models import ParNet


class ParNetClassifier(nn.Module):
    """ParNet's ImageNet form, to compare with the paper's table: the
    backbone's final layer, global average pooling, dropout and a linear
    classifier."""

    def __init__(self, arch: str, num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = ParNet(arch, out_indices=(6, ))
        self.dropout = nn.Dropout(0.1 if arch in ('L', 'XL') else 0.0)
        self.fc = nn.Linear(self.backbone.widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)[0].mean((2, 3))
        return self.fc(self.dropout(x))


class TensorForward(nn.Module):
    """A detector's ``mode='tensor'`` forward (backbone, neck, head; no
    post-processing) as a plain module, for tracing and counting."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor):
        return self.detector(x, mode='tensor')


def count_complexity(model: nn.Module,
                     input_size: Sequence[int]) -> Tuple[float, float]:
    """(parameters in millions, G multiply-adds) of ``model`` on one zero
    image of ``input_size`` = ``(H, W)``."""
    params = sum(p.numel() for p in model.parameters()) / 1e6
    model.eval()  # (mmdet's Darknet.train returns None: do not chain)
    analyzer = FlopAnalyzer(model, torch.zeros(1, 3, *input_size))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        return params, analyzer.total() / 1e9


def test_input_size(cfg: Config) -> Tuple[int, int]:
    """(height, width) of a config's test pipeline ``Resize`` scale."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            width, height = step['scale']
            return height, width
    raise ValueError('the test pipeline has no Resize step: give the input '
                     'size explicitly')


def matmul_peak_gmacs(threads: int, dtype: torch.dtype = torch.float32,
                      n: int = 2048, repeats: int = 5) -> float:
    """Multiply-adds per second (G) of this CPU in ``dtype``: the best of
    ``repeats`` ``n x n`` matrix products with ``threads`` threads, a
    practical ceiling for convolutions (oneDNN runs them as such
    products)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=generator).to(dtype)
        b = torch.randn(n, n, generator=generator).to(dtype)
        best = float('inf')
        with torch.no_grad():
            a @ b
            for _ in range(repeats):
                start = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - start)
        return n ** 3 / best / 1e9
    finally:
        torch.set_num_threads(before)
