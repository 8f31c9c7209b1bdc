"""Distributed training on CPU-only machines (gloo), which mmengine 0.10.7's
launcher does not handle: its ``init_dist`` calls ``torch.cuda.set_device``
and its runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``, both
of which fail without a GPU."""
import atexit
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Make ``cfg`` with ``cfg.launcher == 'pytorch'`` run on CPUs.

    On a machine without CUDA: join the process group with the gloo backend
    (read from ``env_cfg.dist_cfg``; ``nccl`` is replaced by ``gloo``) so that
    mmengine skips its own, CUDA-only, initialisation, and wrap the model in
    DDP without ``device_ids``; the process group is destroyed at exit.
    Does nothing when CUDA is available or the launcher is not ``pytorch``.

    Returns:
        bool: Whether the CPU set-up was applied.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    # Config.setdefault returns the default it was given, not the ConfigDict
    # it stores: look the stored one up again, or the change is lost.
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    dist_cfg = cfg.env_cfg.dist_cfg
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(
            backend=dist_cfg['backend'],
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
        # Left to interpreter shutdown, gloo's threads can abort the process
        # ("terminate called without an active exception") after the run.
        atexit.register(_destroy_process_group)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
