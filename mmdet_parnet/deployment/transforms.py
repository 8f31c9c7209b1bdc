"""Exact rewrites of a detector for deployment, applied at export (and to
the PyTorch backend): BN folding into the neck's and head's convs, and
groups=2 convs as plain convs.

Both leave the outputs unchanged up to float rounding (tested).
"""
from typing import List

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def fold_conv_bn(model: nn.Module) -> int:
    """Fold the BN of every ``ConvModule`` into that module's own conv.

    Folding goes module by module: a ``ConvModule`` whose order is conv then
    norm (mmcv's default) gets ``W' = W * g / s``, ``b' = (b - mu) * g / s +
    beta`` (``s = sqrt(var + eps)``) and an identity in place of its norm.
    mmcv's ``fuse_conv_bn`` instead pairs each BN with the conv just before
    it among a module's children, which in the CSP neck (``short_conv``
    followed by the BN of the concatenation) is the wrong conv, and crashes
    on the channel count. BNs not directly after their own conv (ParNet's
    skip and fusion-input BNs, the CSP blocks' BN of a concatenation) stay:
    the engines fold those into scale-shifts.

    Call on a model in eval mode (BN statistics are used as they are).

    Returns:
        int: How many BNs were folded.
    """
    folded = 0
    for module in model.modules():
        if not (isinstance(module, ConvModule) and module.with_norm
                and isinstance(module.norm, _BatchNorm)):
            continue
        order = list(module.order)
        if order.index('norm') != order.index('conv') + 1:
            continue
        conv, bn = module.conv, module.norm
        if bn.training:
            raise RuntimeError('fold_conv_bn needs the model in eval mode '
                               '(call model.eval() first): a BN in training '
                               'mode normalises with batch statistics.')
        scale = (bn.running_var + bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight
        bias = conv.bias if conv.bias is not None else torch.zeros_like(
            bn.running_mean)
        bias = (bias - bn.running_mean) * scale
        if bn.bias is not None:
            bias = bias + bn.bias
        conv.weight = nn.Parameter(
            conv.weight * scale.reshape(-1, *[1] * (conv.weight.dim() - 1)),
            requires_grad=False)
        conv.bias = nn.Parameter(bias, requires_grad=False)
        setattr(module, module.norm_name, nn.Identity())
        folded += 1
    return folded


class SplitGroupedConv(nn.Module):
    """A grouped ``nn.Conv2d`` as one plain conv per group on its slice of
    the channels, concatenated: the same function, as ops every engine
    quantizes (OpenVINO left ParNet's groups=2 fusion convs in fp32)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        groups = conv.groups
        in_per, out_per = conv.in_channels // groups, \
            conv.out_channels // groups
        self.groups = groups
        self.convs = nn.ModuleList()
        for g in range(groups):
            part = nn.Conv2d(in_per, out_per, conv.kernel_size, conv.stride,
                             conv.padding, conv.dilation, 1,
                             conv.bias is not None, conv.padding_mode)
            part.weight.data.copy_(conv.weight.data[g * out_per:(g + 1) *
                                                    out_per])
            if conv.bias is not None:
                part.bias.data.copy_(conv.bias.data[g * out_per:(g + 1) *
                                                    out_per])
            self.convs.append(part.to(conv.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [conv(part) for conv, part in zip(self.convs,
                                              x.chunk(self.groups, 1))], 1)


def split_grouped_convs(model: nn.Module) -> List[str]:
    """Replace every grouped (not depthwise) ``nn.Conv2d`` of ``model`` by a
    :class:`SplitGroupedConv`; returns the names of the replaced convs."""
    replaced = []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if (type(child) is nn.Conv2d and child.groups > 1
                    and child.groups != child.in_channels):
                setattr(parent, name, SplitGroupedConv(child))
                replaced.append(f'{parent_name}.{name}'.lstrip('.'))
    return replaced
