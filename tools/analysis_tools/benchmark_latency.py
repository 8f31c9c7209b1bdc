"""Batch-1 CPU latency of the ParNet backbones against mmdet's Darknet53.

Every model gets the same ordinary (NCHW, float32) input tensor and is timed
round-robin (one call of each model per round), so a change in machine load
hits all of them alike; the table shows medians and the ratio to Darknet53.
Measure on an otherwise idle machine.

Usage:
    python tools/analysis_tools/benchmark_latency.py [--size 640]
        [--threads 2] [--rounds 15] [--archs S M L XL] [--compile]
"""
import argparse
import statistics

import torch
from mmdet.models.backbones import Darknet

from mmdet_parnet import ParNet
from mmdet_parnet.utils.timing import round_robin


def build_models(archs, compile_models: bool) -> dict:
    """Name -> callable for every variant that is timed."""
    models = {'Darknet53 (mmdet)': Darknet(depth=53)}
    for arch in archs:
        models[f'ParNet-{arch} training form'] = ParNet(arch)
        deployed = ParNet(arch)
        deployed.switch_to_deploy()
        models[f'ParNet-{arch} deployed'] = deployed
        fast = ParNet(arch, channels_last=True)
        fast.switch_to_deploy()
        models[f'ParNet-{arch} deployed, channels-last'] = fast
        if compile_models:
            models[f'ParNet-{arch} deployed, channels-last, compiled'] = \
                torch.compile(fast)
    for model in models.values():
        model.eval()
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--archs', nargs='+', default=['S', 'M', 'L', 'XL'])
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--compile', action='store_true',
                        help='also time torch.compile of the fastest form')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(1, 3, args.size, args.size)
    models = build_models(args.archs, args.compile)
    with torch.inference_mode():
        times = round_robin(
            {name: (lambda m=model: m(x)) for name, model in models.items()},
            args.rounds, args.warmup)
    base = statistics.median(times['Darknet53 (mmdet)'])
    print(f'Batch 1, {args.size}x{args.size}, {args.threads} threads, '
          f'median of {args.rounds} rounds (torch {torch.__version__}):\n')
    print('| backbone | median ms | min ms | vs Darknet53 |')
    print('|---|---|---|---|')
    for name, values in times.items():
        median = statistics.median(values)
        print(f'| {name} | {median * 1e3:.1f} | {min(values) * 1e3:.1f} | '
              f'{median / base:.2f}x |')


if __name__ == '__main__':
    main()
