"""BN folding and grouped-conv splitting leave the detector's outputs
unchanged."""
import copy

import pytest
import torch
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_parnet import switch_to_deploy
from mmdet_parnet.deployment import (SplitGroupedConv, fold_conv_bn,
                                     split_grouped_convs)
from tests.test_deployment.conftest import randomize_bns
from tests.utils import DARKNET_TWIN, SHAPES, demo_batch, tiny_detector

pytestmark = pytest.mark.usefixtures('one_thread')


def tensor_outputs(model, inputs):
    with torch.no_grad():
        return [o.clone() for o in model(inputs, mode='tensor')[0]]


def assert_same(before, after, rel=1e-5):
    scale = max(float(b.abs().max()) for b in before)
    for b, a in zip(before, after):
        assert (b - a).abs().max() <= rel * scale


@pytest.mark.parametrize('config', [SHAPES, DARKNET_TWIN])
def test_fold_conv_bn_leaves_outputs_unchanged(config):
    model = randomize_bns(tiny_detector(config))
    switch_to_deploy(model)
    inputs = demo_batch(model, (64, 96))['inputs']
    before = tensor_outputs(model, inputs)
    convs = [m for m in model.modules() if isinstance(m, ConvModule)]
    folded = fold_conv_bn(model)
    # every ConvModule of the neck, the head (and Darknet) had its own BN
    assert folded == len(convs) > 0
    assert not any(isinstance(m.norm, _BatchNorm) for m in convs)
    # the CSP blocks' BN of a concatenation is not a conv's: it stays
    assert isinstance(model.neck.spp.norm, _BatchNorm)
    assert_same(before, tensor_outputs(model, inputs))


def test_fold_conv_bn_needs_eval_mode():
    model = tiny_detector().train()
    with pytest.raises(RuntimeError, match='eval mode'):
        fold_conv_bn(model)


def test_split_grouped_convs_leaves_outputs_unchanged():
    model = randomize_bns(tiny_detector())
    switch_to_deploy(model)
    inputs = demo_batch(model, (64, 64))['inputs']
    before = tensor_outputs(model, inputs)
    split = copy.deepcopy(model)
    names = split_grouped_convs(split)
    # the two fusion blocks' fused 3x3 and SE convs (groups=2)
    assert sorted(names) == sorted(
        f'backbone.fusion{i}.block.{part}' for i in (1, 2)
        for part in ('branches.reparam', 'se'))
    assert isinstance(split.backbone.fusion1.block.se, SplitGroupedConv)
    assert not any(
        isinstance(m, torch.nn.Conv2d) and m.groups > 1
        for m in split.modules())
    assert_same(before, tensor_outputs(split, inputs))
