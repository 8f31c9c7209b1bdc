"""ParNet, the 12-layer "Non-deep Network" (Goyal, Bochkovskiy, Deng, Koltun,
arXiv 2110.07641), as an MMDetection backbone.

Paper: Goyal, Bochkovskiy, Deng, Koltun, "Non-deep Networks", NeurIPS 2022,
arXiv 2110.07641. Code: github.com/imankgoyal/NonDeepNetworks (ImageNet
only), BSD-3-Clause. Written from the paper and the release's architecture
and key layout; no code is copied.

Every layer is one RepVGG-style unit (a 3x3 conv + BN branch and a 1x1 conv +
BN branch, summed) used in three roles:

* :class:`ParNetBlock` (stream block): the two branches plus a BN'd skip gated
  by Skip-Squeeze-Excitation (SSE).
* :class:`DownsamplingBlock`: stride-2 branches (the 1x1 branch behind a 2x2
  AvgPool) whose sum is scaled by ``2 * sigmoid(SE(GAP(x)))``.
* :class:`FusionBlock`: two separately BN'd inputs interleaved channel by
  channel, a groups=2 downsampling block, then a channel shuffle.

:class:`RepBranches` owns the re-parameterisation: ``switch_to_deploy()`` folds
both branches and their BNs into one 3x3 conv, exactly.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

#: Tap name, stride and width (an index into ``(C1, C2, C3, C4)``) of every
#: feature map ParNet can return, in ascending stride; ``out_indices`` indexes
#: this table.
TAPS = (
    ('stream1', 4, 0),
    ('down1', 8, 1),
    ('stream2', 8, 1),
    ('fusion1', 16, 2),
    ('stream3', 16, 2),
    ('fusion2', 16, 2),
    ('final', 32, 3),
)


def _fuse_conv_bn(kernel: torch.Tensor,
                  bn: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BN that follows a bias-free conv into (kernel,
    bias)."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """ShuffleNet channel shuffle: ``(N, g, C/g, H, W) -> (N, C/g, g, H, W)``."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(
        n, c, h, w)


def interleave(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Channels ``a0, b0, a1, b1, ...`` (stack on dim 2, then flatten)."""
    n, c, h, w = a.shape
    return torch.stack([a, b], 2).reshape(n, 2 * c, h, w)


class RepBranches(nn.Module):
    """The summed conv branches of a ParNet unit: ``BN(conv3x3(x)) +
    BN(conv1x1(x))``, the 1x1 branch behind ``AvgPool2d(2, 2)`` at stride 2.

    ``switch_to_deploy()`` replaces both branches by one 3x3 conv with bias
    that computes the same sum (RepVGG re-parameterisation): the 1x1 kernel
    goes to the centre of the 3x3, or, at stride 2, is spread over the
    bottom-right 2x2 window and divided by 4 (the AvgPool).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): 1 or 2.
        groups (int): Groups of both convs.
        norm_cfg (dict): Config of the BNs.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 groups: int, norm_cfg: dict) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.groups = groups
        self.dense = nn.Sequential()
        self.dense.add_module(
            'conv',
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, groups=groups,
                      bias=False))
        self.dense.add_module('bn', build_norm_layer(norm_cfg, out_channels)[1])
        self.pointwise = nn.Sequential()
        if stride == 2:
            self.pointwise.add_module('pool', nn.AvgPool2d(2, 2))
        self.pointwise.add_module(
            'conv',
            nn.Conv2d(in_channels, out_channels, 1, groups=groups, bias=False))
        self.pointwise.add_module('bn',
                                  build_norm_layer(norm_cfg, out_channels)[1])

    @property
    def deployed(self) -> bool:
        return hasattr(self, 'reparam')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deployed:
            return self.reparam(x)
        return self.dense(x) + self.pointwise(x)

    def fused_kernel_bias(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The 3x3 kernel and bias equal to both branches in eval mode."""
        k3, b3 = _fuse_conv_bn(self.dense.conv.weight, self.dense.bn)
        k1, b1 = _fuse_conv_bn(self.pointwise.conv.weight, self.pointwise.bn)
        if self.stride == 2:
            k1 = F.pad(k1.expand(-1, -1, 2, 2) / 4, [1, 0, 1, 0])
        else:
            k1 = F.pad(k1, [1, 1, 1, 1])
        return k3 + k1, b3 + b1

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse both branches into ``self.reparam``; a no-op when fused."""
        if self.deployed:
            return
        kernel, bias = self.fused_kernel_bias()
        reparam = nn.Conv2d(self.in_channels, self.out_channels, 3,
                            self.stride, 1, groups=self.groups, bias=True)
        reparam.weight.copy_(kernel)
        reparam.bias.copy_(bias)
        del self.dense, self.pointwise
        self.reparam = reparam.to(kernel.device)


class ParNetBlock(nn.Module):
    """Stream block, role (a): ``act(BN(conv3x3(x)) + BN(conv1x1(x)) + b *
    sigmoid(W_se GAP(b)))`` with ``b = BN(x)``, the Skip-Squeeze-Excitation
    (SSE) gate computed from and applied to the BN'd skip.

    Args:
        channels (int): Input and output channels.
        norm_cfg (dict): Config of the BNs.
        act_cfg (dict): Config of the activation after the sum.
    """

    def __init__(self, channels: int, norm_cfg: dict, act_cfg: dict) -> None:
        super().__init__()
        self.branches = RepBranches(channels, channels, 1, 1, norm_cfg)
        self.skip_bn = build_norm_layer(norm_cfg, channels)[1]
        self.sse = nn.Conv2d(channels, channels, 1, bias=False)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip_bn(x)
        gate = torch.sigmoid(self.sse(F.adaptive_avg_pool2d(skip, 1)))
        return self.act(self.branches(x) + skip * gate)


class DownsamplingBlock(nn.Module):
    """Downsampling block, role (b): ``act((BN(conv3x3_s(x)) +
    BN(conv1x1(AvgPool(x)))) * 2 * sigmoid(W_se GAP(x)))``; no skip.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Config of the BNs.
        act_cfg (dict): Config of the activation.
        stride (int): 2, or 1 for the second fusion. Defaults to 2.
        groups (int): Groups of the 3x3, 1x1 and SE convs. Defaults to 1.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: dict,
                 act_cfg: dict,
                 stride: int = 2,
                 groups: int = 1) -> None:
        super().__init__()
        self.branches = RepBranches(in_channels, out_channels, stride, groups,
                                    norm_cfg)
        self.se = nn.Conv2d(
            in_channels, out_channels, 1, groups=groups, bias=False)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = 2 * torch.sigmoid(self.se(F.adaptive_avg_pool2d(x, 1)))
        return self.act(self.branches(x) * gate)


class FusionBlock(nn.Module):
    """Fusion block, role (c): ``shuffle(block_g2(interleave(BN_1(y),
    BN_2(p))))`` for the stream output ``y`` and the running path ``p``.

    ``block_g2`` is a :class:`DownsamplingBlock` with groups=2 on all three
    convs; the output channel shuffle (groups 2) is part of the block.

    Args:
        in_channels (int): Channels of each input.
        out_channels (int): Output channels.
        stride (int): 2 for the first fusion, 1 for the second.
        norm_cfg (dict): Config of the BNs.
        act_cfg (dict): Config of the activation.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 norm_cfg: dict, act_cfg: dict) -> None:
        super().__init__()
        self.stream_bn = build_norm_layer(norm_cfg, in_channels)[1]
        self.path_bn = build_norm_layer(norm_cfg, in_channels)[1]
        self.block = DownsamplingBlock(2 * in_channels, out_channels,
                                       norm_cfg, act_cfg, stride, groups=2)

    def forward(self, stream: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
        fused = interleave(self.stream_bn(stream), self.path_bn(path))
        return channel_shuffle(self.block(fused), 2)


@MODELS.register_module()
class ParNet(BaseModule):
    """ParNet backbone from `Non-deep Networks
    <https://arxiv.org/abs/2110.07641>`_.

    A stem of four downsampling blocks feeds three parallel streams (4, 5
    and 5 stream blocks at strides 4, 8 and 16); stream 1 is downsampled
    ("down 1") and fused with stream 2 (fusion 1, stride 2), the result is
    fused with stream 3 (fusion 2, stride 1), and a final downsampling block
    takes it to stride 32. Widths ``(C1, C2, C3, C4)``:

    ======  ======================  =========================
    arch    C1 / C2 / C3 / C4       note
    ======  ======================  =========================
    S       96 / 192 / 384 / 1280   paper
    S92     92 / 192 / 384 / 1280   the released S checkpoint
    M       128 / 256 / 512 / 2048
    L       160 / 320 / 640 / 2560
    XL      200 / 400 / 800 / 3200
    ======  ======================  =========================

    The stem's first block has ``min(64, C1)`` channels. Taps selectable by
    ``out_indices`` (see :data:`TAPS`):

    =====  =======  ======  =====
    index  tap      stride  width
    =====  =======  ======  =====
    0      stream1  4       C1
    1      down1    8       C2
    2      stream2  8       C2
    3      fusion1  16      C3
    4      stream3  16      C3
    5      fusion2  16      C3
    6      final    32      C4 (or ``final_channels``)
    =====  =======  ======  =====

    Args:
        arch (str | dict): 'S', 'S92', 'M', 'L' or 'XL', or a dict with
            ``widths`` (C1, C2, C3, C4) and optionally ``num_blocks`` (the
            stream depths, default (4, 5, 5)). Defaults to 'S'.
        out_indices (Sequence[int]): Taps to return, in ascending stride.
            Defaults to (2, 5, 6): stream 2, fusion 2 and final, at strides
            8, 16 and 32.
        final_channels (int, optional): Width of the final layer instead of
            C4. Defaults to None.
        frozen_stages (int): Stages to freeze (-1: none). Stage 0 is the
            stem, 1 stream 1 and down 1, 2 stream 2 and fusion 1, 3 stream 3
            and fusion 2, 4 the final layer. Defaults to -1.
        norm_cfg (dict): Config of every BN. Defaults to PyTorch's BN
            (eps 1e-5, momentum 0.1), as in the paper.
        act_cfg (dict): Activation. Defaults to SiLU (the paper); the
            released ImageNet weights were trained with ReLU.
        norm_eval (bool): Keep BNs in eval mode (frozen statistics) while
            training. Defaults to False.
        channels_last (bool): Run the network in channels-last memory format
            (the input is converted inside; outputs stay channels-last),
            which oneDNN convolutions run faster on CPU. Defaults to False.
        deploy (bool): Build the network directly in its deployed form, to
            load a checkpoint written by
            ``tools/model_converters/parnet_deploy.py``. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint=...)`` with a checkpoint from
            ``tools/model_converters/parnet_official_to_mmdet.py``.

    Example:
        >>> import torch
        >>> from mmdet_parnet import ParNet
        >>> self = ParNet(arch='S').eval()
        >>> for out in self(torch.rand(1, 3, 256, 256)):
        ...     print(tuple(out.shape))
        (1, 192, 32, 32)
        (1, 384, 16, 16)
        (1, 1280, 8, 8)
    """

    arch_settings: Dict[str, Tuple[int, int, int, int]] = {
        'S': (96, 192, 384, 1280),
        'S92': (92, 192, 384, 1280),
        'M': (128, 256, 512, 2048),
        'L': (160, 320, 640, 2560),
        'XL': (200, 400, 800, 3200),
    }
    default_num_blocks = (4, 5, 5)
    size_divisor = 32

    def __init__(self,
                 arch: Union[str, dict] = 'S',
                 out_indices: Sequence[int] = (2, 5, 6),
                 final_channels: Optional[int] = None,
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='SiLU'),
                 norm_eval: bool = False,
                 channels_last: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg)
        widths, num_blocks = self._parse_arch(arch)
        if final_channels is not None:
            widths = widths[:3] + (final_channels, )
        self.out_indices = self._parse_out_indices(out_indices)
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'ParNet frozen_stages must be in -1..4 '
                             f'(-1: none, 4: all), got {frozen_stages}')
        self.widths = widths
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.channels_last = channels_last
        c1, c2, c3, c4 = widths
        layer_cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.stem = nn.ModuleList([
            DownsamplingBlock(3, min(64, c1), **layer_cfg),
            DownsamplingBlock(min(64, c1), c1, **layer_cfg),
            DownsamplingBlock(c1, c2, **layer_cfg),
            DownsamplingBlock(c2, c3, **layer_cfg),
        ])
        self.streams = nn.ModuleList([
            nn.Sequential(*[ParNetBlock(c, **layer_cfg) for _ in range(n)])
            for c, n in zip((c1, c2, c3), num_blocks)
        ])
        self.down1 = DownsamplingBlock(c1, c2, **layer_cfg)
        self.fusion1 = FusionBlock(c2, c3, 2, **layer_cfg)
        self.fusion2 = FusionBlock(c3, c3, 1, **layer_cfg)
        # The final layer is built only when tapped: left unused it would hold
        # parameters without gradients, which distributed training rejects.
        self.final = DownsamplingBlock(c3, c4, **layer_cfg) if max(
            self.out_indices) == len(TAPS) - 1 else None
        self._freeze_stages()
        if deploy:
            self.switch_to_deploy()

    @classmethod
    def _parse_arch(cls, arch) -> Tuple[tuple, tuple]:
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(
                    f'Unknown ParNet arch {arch!r}; valid archs are '
                    f'{sorted(cls.arch_settings)} or a dict with "widths" '
                    f'(C1, C2, C3, C4) and optional "num_blocks".')
            return cls.arch_settings[arch], cls.default_num_blocks
        if isinstance(arch, dict):
            unknown = set(arch) - {'widths', 'num_blocks'}
            widths = tuple(arch.get('widths', ()))
            num_blocks = tuple(arch.get('num_blocks', cls.default_num_blocks))
            if (unknown or len(widths) != 4 or len(num_blocks) != 3 or not all(
                    isinstance(v, int) and v > 0
                    for v in widths + num_blocks)):
                raise ValueError(
                    f'A custom ParNet arch is a dict with "widths": four '
                    f'positive ints (C1, C2, C3, C4) and optional '
                    f'"num_blocks": three positive ints, got {arch!r}')
            return widths, num_blocks
        raise ValueError(f'ParNet arch must be one of '
                         f'{sorted(cls.arch_settings)} or a dict, got '
                         f'{arch!r}')

    @staticmethod
    def _parse_out_indices(out_indices) -> Tuple[int, ...]:
        indices = tuple(sorted(set(out_indices)))
        if not indices or not all(
                isinstance(i, int) and 0 <= i < len(TAPS) for i in indices):
            taps = ', '.join(f'{i}: {name} (stride {stride})'
                             for i, (name, stride, _) in enumerate(TAPS))
            raise ValueError(f'ParNet out_indices must be a non-empty subset '
                             f'of the taps {taps}; got {out_indices!r}')
        return indices

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned tap, in output order."""
        return tuple(self.widths[TAPS[i][2]] for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        """Stride of each returned tap, in output order."""
        return tuple(TAPS[i][1] for i in self.out_indices)

    def _stages(self) -> list:
        """Modules of each freezable stage, in the order of frozen_stages."""
        return [[self.stem], [self.streams[0], self.down1],
                [self.streams[1], self.fusion1],
                [self.streams[2], self.fusion2], [self.final]]

    def _freeze_stages(self) -> None:
        for stage in self._stages()[:self.frozen_stages + 1]:
            for module in filter(None, stage):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    @property
    def deployed(self) -> bool:
        return self.stem[0].branches.deployed

    def train(self, mode: bool = True) -> 'ParNet':
        if mode and self.deployed:
            raise RuntimeError(
                'This ParNet was switched to its deployed (re-parameterised) '
                'form, which is for inference only: its fused convs have no '
                'BN to train. Train the model built from the config (training '
                'form) and switch to deploy afterwards.')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Refuse, with the fix, a checkpoint that holds no weights of this
        network or holds them in the other (training / deployed) form."""
        own = [k for k in state_dict if k.startswith(prefix)]
        expected = set(self.state_dict(prefix=prefix))
        if not expected & set(own):
            # torch and mmengine hand each submodule only the keys under its
            # prefix, so without any there is nothing of the file to show.
            found = (f'its keys look like {own[:2]}' if own else
                     f'it has no key starting with {prefix!r}')
            raise ValueError(
                f'The checkpoint has no weights for the ParNet backbone at '
                f'{prefix or "the top level"!r} ({found}): '
                f'it is a checkpoint of another model. Use a checkpoint '
                f'trained with this config, or convert the released ImageNet '
                f'weights with tools/model_converters/'
                f'parnet_official_to_mmdet.py.')
        saved_deployed = any('.reparam.' in k for k in own)
        if saved_deployed != self.deployed:
            forms = ('training', 'deployed')
            raise ValueError(
                f'The checkpoint holds ParNet in its '
                f'{forms[saved_deployed]} form but the model is in its '
                f'{forms[self.deployed]} form. Set backbone.deploy='
                f'{saved_deployed} in the config (or switch the model after '
                f'loading a training checkpoint).')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse every block's 3x3 and 1x1 branches into one 3x3 conv.

        Call in eval mode; switching twice is harmless. The identity BN and
        the SE/SSE gates stay as they are.
        """
        for module in self.modules():
            if isinstance(module, RepBranches):
                module.switch_to_deploy()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        h, w = x.shape[-2:]
        if h % self.size_divisor or w % self.size_divisor:
            raise ValueError(
                f'ParNet needs an input whose height and width are multiples '
                f'of {self.size_divisor}, got {h}x{w}. Pad the batch with '
                f'pad_size_divisor={self.size_divisor} in the data '
                f'preprocessor (DetDataPreprocessor) or resize to a multiple '
                f'of {self.size_divisor}.')
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        path1 = self.stem[1](self.stem[0](x))
        path2 = self.stem[2](path1)
        path3 = self.stem[3](path2)
        stream1 = self.streams[0](path1)
        return self.fuse_streams(stream1, self.down1(stream1),
                                 self.streams[1](path2),
                                 self.streams[2](path3))

    def fuse_streams(self, stream1: torch.Tensor, down1: torch.Tensor,
                     stream2: torch.Tensor,
                     stream3: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The fusion blocks and the final layer on the three streams'
        outputs (stream 1 already downsampled to ``down1``); returns the
        taps of ``out_indices``."""
        fusion1 = self.fusion1(stream2, down1)
        fusion2 = self.fusion2(stream3, fusion1)
        taps = [stream1, down1, stream2, fusion1, stream3, fusion2]
        if self.final is not None:
            taps.append(self.final(fusion2))
        return tuple(taps[i] for i in self.out_indices)
