"""Parameters and FLOPs of every ParNet arch, in training and deployed form,
for the ImageNet classifier form (to compare with the paper) and for the
detection backbone.

GFLOPs are printed as the paper counts them, 2 x multiply-adds (see
``mmdet_parnet.utils.complexity``).

Usage: python tools/analysis_tools/parnet_complexity.py [--size 640]
"""
import argparse

from mmdet_parnet import ParNet, switch_to_deploy
from mmdet_parnet.utils.complexity import ParNetClassifier, count_complexity

#: The paper's deployed figures at 224x224 (params in M, GFLOPs as 2 x MACs).
PAPER = {'S': (19.2, 9.7), 'L': (54.9, None), 'XL': (85.0, 41.5)}


def complexity(arch: str, size: int) -> dict:
    """Training/deployed params (M) and GFLOPs (2 x MACs) of the classifier
    form at 224 and of the backbone (default taps) at ``size``."""
    row = {}
    for name, model, input_size in (
        ('cls', ParNetClassifier(arch), 224),
        ('det', ParNet(arch), size),
    ):
        for form in ('train', 'deploy'):
            if form == 'deploy':
                switch_to_deploy(model)
            params, macs = count_complexity(model, (input_size, input_size))
            row[f'{name}_params_{form}'] = params
            row[f'{name}_gflops_{form}'] = 2 * macs
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', nargs='+', default=list(ParNet.arch_settings))
    parser.add_argument('--size', type=int, default=640,
                        help='input size of the backbone rows (default 640)')
    args = parser.parse_args()
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
