"""The depth counter: hand-counted small networks, ParNet's 12 (the paper's
count, classifier included) for every arch, Darknet-53's 53."""
import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import Darknet

from mmdet_parnet import ParNet, switch_to_deploy
from mmdet_parnet.utils.complexity import ParNetClassifier
from mmdet_parnet.utils.depth import (WithClassifier, count_depth,
                                      deployed_copy, paper_depth)


def conv(cin=4, cout=4):
    return nn.Conv2d(cin, cout, 3, padding=1)


class Residual(nn.Module):
    """conv -> [conv -> conv] + [1x1 conv skip] -> conv: the longer branch
    counts, 1 + 2 + 1 = 4."""

    def __init__(self):
        super().__init__()
        self.stem = conv(3, 4)
        self.body = nn.Sequential(conv(), nn.ReLU(), conv())
        self.skip = nn.Conv2d(4, 4, 1)
        self.head = conv()

    def forward(self, x):
        x = self.stem(x)
        return self.head(self.body(x) + self.skip(x))


class Gated(nn.Module):
    """A conv whose output is scaled by an SE gate (pool -> 1x1 conv ->
    sigmoid) of the same input: gate and conv run side by side, 1 layer;
    plus a learned bias map that does not depend on the input."""

    def __init__(self):
        super().__init__()
        self.conv = conv(3, 4)
        self.se = nn.Conv2d(3, 4, 1)
        self.bias = nn.Parameter(torch.zeros(1, 4, 1, 1))
        self.bias_conv = nn.Conv2d(4, 4, 1)  # on the parameter only

    def forward(self, x):
        gate = torch.sigmoid(self.se(x.mean((2, 3), keepdim=True)))
        return self.conv(x) * gate + self.bias_conv(self.bias)


class TwoOutputs(nn.Module):

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = conv(3, 4), conv(), conv()

    def forward(self, x):
        a = self.a(x)
        return a, self.c(self.b(a)), x * 2


def test_plain_cnn_counts_weighted_layers_only():
    """conv - relu - conv - pool - conv = 3; a final linear makes 4."""
    model = nn.Sequential(conv(3, 4), nn.ReLU(), conv(), nn.MaxPool2d(2),
                          nn.BatchNorm2d(4), conv())
    assert count_depth(model, (16, 16)) == 3
    head = nn.Sequential(model, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))
    assert count_depth(head, (16, 16)) == 4


def test_residual_block_counts_its_longer_branch():
    assert count_depth(Residual(), (16, 16)) == 4


def test_gate_and_parameter_paths_add_no_depth():
    assert count_depth(Gated(), (16, 16)) == 1


def test_depth_per_output():
    assert count_depth(TwoOutputs(), (8, 8), per_output=True) == [1, 3, 0]
    assert count_depth(TwoOutputs(), (8, 8)) == 3


def test_modes_are_restored():
    model = Residual().train()
    model.body.eval()
    count_depth(model, (8, 8))
    assert model.training and not model.body.training


@pytest.mark.parametrize('arch', sorted(ParNet.arch_settings))
def test_parnet_depth_is_12(arch, one_thread):
    """11 fused 3x3 convs on the longest path (4 stem blocks, 5 stream-3
    blocks, fusion 2, final) plus the classifier: 12, in either form."""
    backbone = ParNet(arch).eval()
    assert paper_depth(backbone) == 12
    assert count_depth(backbone) == 11  # training form: branches parallel
    deployed = deployed_copy(backbone)
    assert deployed.deployed and not backbone.deployed
    assert count_depth(deployed) == 11
    # taps: stream 2 (3 stem + 5), fusion 2 (10), final (11)
    assert count_depth(deployed, per_output=True) == [8, 10, 11]


def test_matches_the_complexity_classifier(one_thread):
    model = ParNetClassifier('S')
    switch_to_deploy(model)
    assert count_depth(model) == 12


def test_darknet53_depth_is_53(one_thread):
    """52 convs, all on the longest path (each residual block's two convs
    are longer than its skip), plus the classifier's FC."""
    backbone = Darknet(depth=53, out_indices=(3, 4, 5))
    assert count_depth(backbone, per_output=True) == [26, 43, 52]
    assert paper_depth(backbone) == 53
    classifier = WithClassifier(backbone)
    classifier.eval()
    assert count_depth(classifier) == 53
