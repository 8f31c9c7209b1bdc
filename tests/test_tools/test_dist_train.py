"""Distributed training and testing on CPU-only machines (gloo): the
launcher scripts end to end, and ``prepare_cpu_distributed`` alone."""
import os
import socket
import subprocess

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from conftest import REPO
from mmdet_parnet.distributed import prepare_cpu_distributed
from mmdet_parnet.datasets import make_shapes_dataset
from test_train_test_loop import (PYTHON, load_meta, reported_map,
                                  write_tiny_config)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(script, *args, timeout=300):
    """Run tools/<script> with 2 CPU processes on a free port."""
    for attempt in range(2):
        env = dict(os.environ, PYTHON=PYTHON, PORT=str(free_port()),
                   OMP_NUM_THREADS='1')
        result = subprocess.run(
            ['bash', str(REPO / 'tools' / script), *map(str, args)],
            cwd=REPO, env=env, capture_output=True, text=True,
            timeout=timeout)
        output = result.stdout + result.stderr
        # The port was free when picked; another process may have taken it.
        if result.returncode == 0 or 'address already in use' not in \
                output.lower():
            break
    assert result.returncode == 0, output[-6000:]
    return output


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU path')
def test_dist_train_and_test_on_cpu(tmp_path):
    data_root = tmp_path / 'shapes'
    make_shapes_dataset(str(data_root), num_train=16, num_val=8, num_test=8,
                        img_size=64, seed=0)
    work_dir = tmp_path / 'work'
    config = write_tiny_config(tmp_path, data_root, work_dir)

    output = launch('dist_train.sh', config, 2, '--cfg-options',
                    'train_cfg.max_epochs=1')
    assert 'Distributed training: True' in output
    assert "'backend': 'gloo'" in output
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file()
    # 16 images, 4 per batch and process: 2 iterations per epoch on each of
    # the 2 processes (one process would have taken 4).
    meta = load_meta(ckpt)
    assert (meta['epoch'], meta['iter']) == (1, 2)
    state = torch.load(ckpt, map_location='cpu',
                       weights_only=True)['state_dict']
    assert not any(k.startswith('module.') for k in state)
    assert 0 <= reported_map(output) <= 1  # validation, gathered

    output = launch('dist_test.sh', config, ckpt, 2, '--work-dir',
                    tmp_path / 'test')
    assert 0 <= reported_map(output) <= 1


def _cfg(**kwargs) -> Config:
    return Config(dict(model=dict(type='X'), **kwargs))


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


@pytest.fixture
def fake_init(monkeypatch):
    """Record init_process_group calls instead of joining a group."""
    calls = []
    monkeypatch.setattr(dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(dist, 'init_process_group',
                        lambda **kwargs: calls.append(kwargs))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    return calls


def test_prepare_cpu_distributed_pytorch_launcher(no_cuda, fake_init):
    cfg = _cfg(launcher='pytorch', env_cfg=dict(dist_cfg=dict(
        backend='nccl')), find_unused_parameters=True)
    assert prepare_cpu_distributed(cfg) is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert fake_init == [dict(backend='gloo', rank=1, world_size=2)]
    wrapper = cfg.model_wrapper_cfg
    assert wrapper.type == 'MMDistributedDataParallel'
    assert wrapper.device_ids is None
    assert wrapper.find_unused_parameters is True


def test_prepare_cpu_distributed_keeps_user_settings(no_cuda, fake_init):
    cfg = _cfg(launcher='pytorch',
               model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                                      device_ids=[0], broadcast_buffers=True))
    assert prepare_cpu_distributed(cfg) is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'  # no env_cfg: default
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.broadcast_buffers is True

    cfg = _cfg(launcher='pytorch', env_cfg=dict(cudnn_benchmark=False))
    prepare_cpu_distributed(cfg)
    assert cfg.env_cfg.to_dict() == dict(cudnn_benchmark=False,
                                         dist_cfg=dict(backend='gloo'))

    cfg = _cfg(launcher='pytorch', env_cfg=dict(dist_cfg=dict(
        backend='mpi')))
    prepare_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'mpi'  # a CPU backend: kept
    assert fake_init[-1]['backend'] == 'mpi'


@pytest.mark.parametrize('launcher', ['none', None])
def test_prepare_cpu_distributed_without_launcher(no_cuda, fake_init,
                                                  launcher):
    cfg = _cfg(env_cfg=dict(dist_cfg=dict(backend='nccl')))
    if launcher is not None:
        cfg.launcher = launcher
    before = cfg.to_dict()
    assert prepare_cpu_distributed(cfg) is False
    assert cfg.to_dict() == before
    assert fake_init == []


def test_prepare_cpu_distributed_leaves_gpus_to_mmengine(monkeypatch,
                                                         fake_init):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _cfg(launcher='pytorch')
    before = cfg.to_dict()
    assert prepare_cpu_distributed(cfg) is False
    assert cfg.to_dict() == before and fake_init == []


def test_prepare_cpu_distributed_joins_a_real_group(no_cuda, monkeypatch):
    """One process, world size 1: the group really is gloo afterwards."""
    assert not dist.is_initialized()
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    cfg = _cfg(launcher='pytorch')
    try:
        assert prepare_cpu_distributed(cfg)
        assert dist.is_initialized()
        assert dist.get_backend() == 'gloo'
        # Already in a group (e.g. called twice): no second init.
        assert prepare_cpu_distributed(cfg)
    finally:
        dist.destroy_process_group()
