"""``prepare_cpu_distributed``: the CPU (gloo) set-up mmengine's launcher
lacks, on configs and in a real one-process group."""
import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from mmdet_parnet.utils.distributed import prepare_cpu_distributed
from tests.utils import free_port


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
