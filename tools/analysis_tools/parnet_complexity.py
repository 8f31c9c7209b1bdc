"""Parameters and FLOPs of every ParNet arch, in training and deployed form,
for the ImageNet classifier form (to compare with the paper) and for the
detection backbone.

FLOPs are counted by mmengine's ``FlopAnalyzer`` (convolutions, linear
layers, BN and pooling; elementwise work is not counted) and reported as the
paper counts them: GFLOPs = 2 x multiply-adds (mmengine itself reports one
multiply-add as one FLOP).

Usage: python tools/analysis_tools/parnet_complexity.py [--size 640]
"""
import argparse

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from mmdet_parnet import ParNet, switch_to_deploy

#: The paper's deployed figures at 224x224 (params in M, GFLOPs as 2 x MACs).
PAPER = {'S': (19.2, 9.7), 'L': (54.9, None), 'XL': (85.0, 41.5)}


class ParNetClassifier(nn.Module):
    """ParNet's ImageNet form: the backbone's final layer, global average
    pooling, dropout and a linear classifier."""

    def __init__(self, arch: str, num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = ParNet(arch, out_indices=(6, ))
        self.dropout = nn.Dropout(0.1 if arch in ('L', 'XL') else 0.0)
        self.fc = nn.Linear(self.backbone.widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)[0].mean((2, 3))
        return self.fc(self.dropout(x))


def count(model: nn.Module, size: int) -> tuple:
    """(params in M, GFLOPs as 2 x multiply-adds) at a size x size input."""
    params = sum(p.numel() for p in model.parameters()) / 1e6
    analyzer = FlopAnalyzer(model.eval(), torch.zeros(1, 3, size, size))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return params, 2 * analyzer.total() / 1e9


def complexity(arch: str, size: int) -> dict:
    """Training/deployed params and deployed GFLOPs of the classifier form at
    224 and of the backbone (default taps) at ``size``."""
    row = {}
    for name, model, input_size in (
        ('cls', ParNetClassifier(arch), 224),
        ('det', ParNet(arch), size),
    ):
        row[f'{name}_params_train'], row[f'{name}_gflops_train'] = count(
            model, input_size)
        switch_to_deploy(model)
        row[f'{name}_params_deploy'], row[f'{name}_gflops_deploy'] = count(
            model, input_size)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', nargs='+', default=list(ParNet.arch_settings))
    parser.add_argument('--size', type=int, default=640,
                        help='input size of the backbone rows (default 640)')
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print('ImageNet classifier form, 224x224, 1000 classes '
          '(GFLOPs = 2 x multiply-adds):\n')
    print('| arch | params train (M) | params deployed (M) | GFLOPs deployed '
          '| paper: params (M), GFLOPs |')
    print('|---|---|---|---|---|')
    rows = {arch: complexity(arch, args.size) for arch in args.archs}
    for arch, r in rows.items():
        paper = PAPER.get(arch)
        paper = ', '.join('-' if v is None else f'{v}'
                          for v in paper) if paper else '-'
        print(f'| {arch} | {r["cls_params_train"]:.2f} | '
              f'{r["cls_params_deploy"]:.2f} | {r["cls_gflops_deploy"]:.2f} '
              f'| {paper} |')
    print(f'\nDetection backbone (taps stream2/fusion2/final), '
          f'{args.size}x{args.size}:\n')
    print('| arch | params train (M) | params deployed (M) | GFLOPs train | '
          'GFLOPs deployed |')
    print('|---|---|---|---|---|')
    for arch, r in rows.items():
        print(f'| {arch} | {r["det_params_train"]:.2f} | '
              f'{r["det_params_deploy"]:.2f} | {r["det_gflops_train"]:.1f} | '
              f'{r["det_gflops_deploy"]:.1f} |')


if __name__ == '__main__':
    main()
