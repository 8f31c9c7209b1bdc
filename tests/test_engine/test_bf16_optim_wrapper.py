"""CPUBF16OptimWrapper: forward passes under bfloat16 autocast, float32
weights and gradients, and a step that updates the weights."""
import torch
import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPERS

import mmdet_parnet  # noqa: F401  (registers the wrapper)


def build(model):
    """The wrapper as a config names it, around plain SGD."""
    return OPTIM_WRAPPERS.build(
        dict(type='CPUBF16OptimWrapper',
             optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))


def test_forward_runs_in_bfloat16_and_step_updates_float32_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(64, 1))
    wrapper = build(model)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(2, 3, 6, 6)
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        features = model[0](x)
        loss = model[2](model[1](features)).float().pow(2).mean()
    assert not torch.is_autocast_enabled('cpu')
    assert features.dtype == torch.bfloat16  # the conv ran in bfloat16
    wrapper.update_params(loss)
    for p, old in zip(model.parameters(), before):
        assert p.dtype == torch.float32
        assert not torch.equal(p, old)  # every parameter moved


def test_step_matches_float32_step_to_bfloat16_precision():
    """The same SGD step in float32 and under the wrapper: the updates agree
    to bfloat16's precision (8 bits of mantissa)."""
    torch.manual_seed(0)
    model = nn.Linear(16, 1)
    reference = nn.Linear(16, 1)
    reference.load_state_dict(model.state_dict())
    x = torch.rand(8, 16)
    wrapper = build(model)
    with wrapper.optim_context(model):
        loss = model(x).float().pow(2).mean()
    wrapper.update_params(loss)
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    reference(x).pow(2).mean().backward()
    opt.step()
    torch.testing.assert_close(model.weight, reference.weight, rtol=2e-2,
                               atol=2e-3)
