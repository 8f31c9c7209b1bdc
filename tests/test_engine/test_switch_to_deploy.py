"""switch_to_deploy and SwitchToDeployHook: a detector's ParNet is fused
before testing and predicts what the training form predicts."""
from types import SimpleNamespace

import torch
from mmdet.registry import HOOKS

from mmdet_parnet import switch_to_deploy
from mmdet_parnet.models.parnet import RepBranches
from tests.utils import demo_batch, tiny_detector


def is_fused(model) -> bool:
    branches = [m for m in model.modules() if isinstance(m, RepBranches)]
    return bool(branches) and all(m.deployed for m in branches)


def randomise_bn_statistics(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + .5)


def test_hook_fuses_the_backbone_before_testing():
    torch.manual_seed(0)
    model = tiny_detector().eval()
    randomise_bn_statistics(model)
    data = demo_batch(model, (64, 64))
    with torch.no_grad():
        (before, ) = model(**data, mode='tensor')
    hook = HOOKS.build(dict(type='SwitchToDeployHook'))
    assert not is_fused(model)
    hook.before_test(SimpleNamespace(model=model))
    assert is_fused(model)
    with torch.no_grad():
        (after, ) = model(**data, mode='tensor')
    for a, b in zip(after, before):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_switch_to_deploy_reports_whether_anything_was_fused():
    assert switch_to_deploy(torch.nn.Conv2d(3, 3, 1)) is False
    model = tiny_detector()
    model.train()
    assert switch_to_deploy(model) is True
    assert not model.training  # left in eval mode
    assert switch_to_deploy(model) is True  # a second switch is harmless
