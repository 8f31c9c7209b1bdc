"""Test (evaluate) a detector checkpoint: mmdet's ``tools/test.py`` plus
distributed testing on CPU-only machines and an optional switch of the ParNet
backbone to its deployed form.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--deploy]
        [--out results.pkl] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse

from mmdet_parnet.utils.runner import build_runner, parse_args_and_config


def main():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--deploy', action='store_true',
        help='switch re-parameterisable backbones (ParNet) to their fused '
        'deployed form before testing')
    args, cfg = parse_args_and_config(parser)
    cfg.load_from = args.checkpoint
    if args.deploy:
        cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                            dict(type='SwitchToDeployHook')]
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        cfg.test_evaluator = [
            *(cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else
              [cfg.test_evaluator]),
            dict(type='DumpDetResults', out_file_path=args.out)
        ]
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
