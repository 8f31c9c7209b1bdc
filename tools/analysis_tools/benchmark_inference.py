"""Inference speed of a whole detector on its test data, on CPU or GPU.

mmdet's ``tools/analysis_tools/benchmark.py --task inference`` moves the
model to the GPU with ``.cuda()`` and synchronises CUDA around every image,
so it fails on a machine without one. This is the same measurement for any
device: the config's test dataloader with batch 1 and no worker processes,
``model.test_step`` per image (data preprocessing, forward, post-processing),
warm-up images left out; it reports images per second and milliseconds per
image (their mean and median), and the peak GPU memory on a GPU. A
checkpoint written by ``tools/model_converters/parnet_deploy.py`` is loaded
into the deployed network by itself; ``--deploy`` switches a training-form
one after loading.

Usage:
    python tools/analysis_tools/benchmark_inference.py CONFIG
        [--checkpoint CKPT] [--device cpu] [--max-iter 200]
        [--num-warmup 5] [--log-interval 50] [--threads N] [--deploy]
        [--fuse-conv-bn] [--cfg-options k=v ...]

Without ``--checkpoint`` the model keeps its initial weights (the speed is
the same; the predictions are not meaningful).
"""
import argparse
import statistics
import time

import torch
from mmcv.cnn import fuse_conv_bn
from mmdet.registry import MODELS
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmdet_parnet import switch_to_deploy
from mmdet_parnet.utils.checkpoint_errors import CheckpointLoadError
from mmdet_parnet.utils.inference import is_deployed_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='test config file path')
    parser.add_argument('--checkpoint', help='checkpoint file')
    parser.add_argument('--device', default=None,
                        help="'cpu', 'cuda', 'cuda:1' ... (default: cuda if "
                        'there is a GPU, else cpu)')
    parser.add_argument('--max-iter', type=int, default=200,
                        help='images to run, warm-up included')
    parser.add_argument('--num-warmup', type=int, default=5)
    parser.add_argument('--log-interval', type=int, default=50)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (CPU)')
    parser.add_argument('--deploy', action='store_true',
                        help='switch ParNet to its fused deployed form')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help="fold BN into the preceding conv (mmcv's "
                        'fuse_conv_bn), as mmdet\'s benchmark.py offers')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def build_model(cfg: Config, args) -> torch.nn.Module:
    """The detector of ``cfg`` with the checkpoint's weights, in the form
    and on the device asked for, in eval mode."""
    if args.checkpoint and is_deployed_checkpoint(args.checkpoint):
        cfg.model.backbone.deploy = True
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    if args.deploy:
        switch_to_deploy(model)
    if args.fuse_conv_bn:
        model = fuse_conv_bn(model)
    return model.to(args.device).eval()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    args.device = args.device or ('cuda'
                                  if torch.cuda.is_available() else 'cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = build_model(cfg, args)
    except CheckpointLoadError as err:
        raise SystemExit(f'error: {err}')
    on_gpu = torch.device(args.device).type == 'cuda'
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)

    # Worker processes would compete with the model for the CPU.
    loader_cfg = cfg.test_dataloader
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg)

    times = []
    with torch.no_grad():
        for i, data in enumerate(loader):
            if i == args.max_iter:
                break
            sync()
            start = time.perf_counter()
            model.test_step(data)
            sync()
            if i >= args.num_warmup:
                times.append(time.perf_counter() - start)
                if len(times) % args.log_interval == 0:
                    print(f'image [{i + 1}/{args.max_iter}]: '
                          f'{len(times) / sum(times):.2f} img/s', flush=True)
    if not times:
        raise SystemExit(
            f'error: the test set has {len(loader.dataset)} images, no more '
            f'than --num-warmup={args.num_warmup}: nothing was timed. Lower '
            '--num-warmup.')
    mean, median = sum(times) / len(times), statistics.median(times)
    threads = '' if on_gpu else f', {torch.get_num_threads()} threads'
    print(f'Overall fps: {1 / mean:.2f} img/s, times per image: '
          f'{mean * 1e3:.1f} ms/img (median {median * 1e3:.1f} ms) over '
          f'{len(times)} images after {args.num_warmup} warm-up, on '
          f'{args.device}{threads}, batch 1')
    if on_gpu:
        print(f'peak GPU memory: '
              f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')


if __name__ == '__main__':
    main()
