"""YOLOv4's SPP + PANet neck and its CSP form from Scaled-YOLOv4.

Reproduces the necks of:

* YOLOv4 -- Bochkovskiy, Wang, Liao, arXiv 2004.10934; code:
  github.com/AlexeyAB/darknet (``cfg/yolov4.cfg``), public domain (YOLO
  licence).
* Scaled-YOLOv4 (YOLOv4-CSP) -- Wang, Bochkovskiy, Liao, CVPR 2021; code:
  github.com/WongKinYiu/ScaledYOLOv4, branch ``yolov4-csp``
  (``models/yolov4-csp.yaml``), GPL-3.0.

Written from the papers and the layer lists of those configs; no code is
copied.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import (ConvModule, build_activation_layer, build_conv_layer,
                      build_norm_layer)
from mmdet.models.backbones.csp_darknet import SPPBottleneck
from mmdet.models.layers.csp_layer import DarknetBottleneck
from mmdet.models.necks.yolo_neck import DetectionBlock
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, ModuleList, Sequential
from torch import Tensor, nn

#: Scaled-YOLOv4's BN settings (PyTorch momentum 0.03, eps 1e-3).
SCALED_YOLOV4_BN = dict(type='BN', momentum=0.03, eps=0.001)


class CSPBlock(BaseModule):
    """A cross-stage partial (CSP) block of Scaled-YOLOv4: a main path and a
    bare 1x1 conv (the cross-stage path), concatenated, normalized,
    activated and fused by a 1x1 conv:
    ``out_conv(act(BN(cat(main(x), short_conv(s)))))``.

    Subclasses build ``main``, then call :meth:`build_cross_stage`, and say
    what ``s`` is; both paths are ``out_channels`` wide.

    Args:
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to dict(type='BN', momentum=0.03, eps=0.001).
        act_cfg (dict): Activation layer config. Defaults to dict(type='Mish').
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = SCALED_YOLOV4_BN,
                 act_cfg: ConfigType = dict(type='Mish'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg)
        self.cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def build_cross_stage(self, short_in_channels: int,
                          out_channels: int) -> None:
        """Build the cross-stage path and the fusion, after the main path
        (module order follows the data flow)."""
        self.short_conv = build_conv_layer(
            self.cfg['conv_cfg'], short_in_channels, out_channels, 1,
            bias=False)
        self.norm = build_norm_layer(self.cfg['norm_cfg'],
                                     2 * out_channels)[1]
        self.act = build_activation_layer(self.cfg['act_cfg'])
        self.out_conv = ConvModule(2 * out_channels, out_channels, 1,
                                   **self.cfg)

    def merge(self, main: Tensor, short_input: Tensor) -> Tensor:
        """Concatenate the main path with the cross-stage path and fuse."""
        x = torch.cat((main, self.short_conv(short_input)), dim=1)
        return self.out_conv(self.act(self.norm(x)))


class RCSPBlock(CSPBlock):
    """Scaled-YOLOv4's reversed CSP block (rCSP, ``BottleneckCSP2``).

    A 1x1 conv to ``out_channels`` gives ``y``; the main path is
    ``num_blocks`` bottlenecks (1x1, 3x3, no shortcut) of ``y`` and the
    cross-stage path a bare 1x1 conv of ``y`` (see :class:`CSPBlock`). It
    takes the place of YOLOv4's five-conv block in the CSP neck.

    mmdet's ``CSPLayer(add_identity=False)`` is the YOLOv5 (C3) layout
    instead: two 1x1 convs of the input, each with norm and activation, and
    no norm over the concatenation; it does not load Scaled-YOLOv4 weights.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels, also the width of both paths.
        num_blocks (int): Bottlenecks on the main path. Defaults to 2.
        **kwargs: ``conv_cfg``, ``norm_cfg``, ``act_cfg`` and ``init_cfg``
            as in :class:`CSPBlock`.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 num_blocks: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.in_conv = ConvModule(in_channels, out_channels, 1, **self.cfg)
        self.blocks = Sequential(*[
            DarknetBottleneck(
                out_channels,
                out_channels,
                expansion=1.0,
                add_identity=False,
                **self.cfg) for _ in range(num_blocks)
        ])
        self.build_cross_stage(out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.in_conv(x)
        return self.merge(self.blocks(x), x)


class SPPCSPBlock(CSPBlock):
    """Scaled-YOLOv4's SPP inside a CSP block (CSPSPP, ``SPPCSP``).

    Main path: 1x1, 3x3, 1x1 convs, then spatial pyramid pooling (the map
    concatenated with its stride-1 max-pools of each kernel size), then 1x1
    and 3x3 convs; the cross-stage path is a bare 1x1 conv of the input (see
    :class:`CSPBlock`). All widths are ``out_channels``. mmdet's
    ``SPPBottleneck`` halves the width before pooling, so it does not fit
    here.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels, also the width of both paths.
        kernel_sizes (Sequence[int]): Max-pool kernel sizes.
            Defaults to (5, 9, 13).
        **kwargs: ``conv_cfg``, ``norm_cfg``, ``act_cfg`` and ``init_cfg``
            as in :class:`CSPBlock`.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_sizes: Sequence[int] = (5, 9, 13), **kwargs) -> None:
        super().__init__(**kwargs)
        c, cfg = out_channels, self.cfg
        self.pre_convs = Sequential(
            ConvModule(in_channels, c, 1, **cfg),
            ConvModule(c, c, 3, padding=1, **cfg),
            ConvModule(c, c, 1, **cfg))
        self.poolings = nn.ModuleList(
            nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes)
        self.post_convs = Sequential(
            ConvModule(c * (len(kernel_sizes) + 1), c, 1, **cfg),
            ConvModule(c, c, 3, padding=1, **cfg))
        self.build_cross_stage(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        main = self.pre_convs(x)
        main = torch.cat([main] + [pool(main) for pool in self.poolings], 1)
        return self.merge(self.post_convs(main), x)


def yolov4_spp(in_channels: int, out_channels: int,
               kernel_sizes: Sequence[int], **cfg) -> Sequential:
    """YOLOv4's SPP block: 1x1, 3x3, SPP, 3x3, 1x1 convs.

    The SPP (mmdet's ``SPPBottleneck``) is a 1x1 conv, the stride-1 max-pools
    concatenated with their input, and a 1x1 conv, so the block has darknet's
    1x1, 3x3, 1x1, SPP, 1x1, 3x3, 1x1 at widths n, 2n, n, 4n, n, 2n, n.
    """
    c = out_channels
    return Sequential(
        ConvModule(in_channels, c, 1, **cfg),
        ConvModule(c, 2 * c, 3, padding=1, **cfg),
        SPPBottleneck(2 * c, c, kernel_sizes, **cfg),
        ConvModule(c, 2 * c, 3, padding=1, **cfg),
        ConvModule(2 * c, c, 1, **cfg))


@MODELS.register_module()
class YOLOv4PAFPN(BaseModule):
    """The SPP + PANet neck of YOLOv4, or its CSP form from Scaled-YOLOv4.

    On the stride-32 input an SPP block (spatial pyramid pooling: max-pools
    of 5, 9 and 13 at stride 1, concatenated) widens the receptive field.
    The top-down path then reduces the coarser map with a 1x1 conv,
    upsamples it x2 and concatenates it (PANet's modified path aggregation
    concatenates, where PANet adds) with a 1x1-reduced lateral of the
    backbone map; a block fuses the two. The bottom-up path downsamples each
    finer output with a 3x3 stride-2 conv, concatenates it with the coarser
    top-down map and fuses them with a block.

    ``spp`` and ``block`` pick YOLOv4's plain layers or Scaled-YOLOv4's CSP
    ones:

    - ``spp='plain'``: 1x1, 3x3, 1x1, SPP, 1x1, 3x3, 1x1 convs (YOLOv4).
    - ``spp='csp'``: the same inside a CSP block (CSPSPP, Scaled-YOLOv4).
    - ``block='plain'``: five convs 1x1, 3x3, 1x1, 3x3, 1x1 (YOLOv4).
    - ``block='csp'``: a reversed CSP block, bottlenecks without shortcut
      (rCSP, YOLOv4-CSP).

    Args:
        in_channels (Sequence[int]): Channels of the three backbone maps at
            strides 8, 16 and 32.
        out_channels (Sequence[int]): Channels of the three outputs at
            strides 8, 16 and 32, also the widths of each level's block.
            Defaults to (128, 256, 512), YOLOv4's widths.
        spp (str): 'plain' (YOLOv4) or 'csp' (Scaled-YOLOv4) SPP block.
            Defaults to 'plain'.
        block (str): 'plain' (YOLOv4's five convs) or 'csp' (rCSP) fusion
            block. Defaults to 'plain'.
        num_csp_blocks (int): Bottlenecks in each rCSP block, used when
            ``block='csp'``. Defaults to 2, as in YOLOv4-CSP.
        spp_kernel_sizes (Sequence[int]): SPP max-pool kernel sizes.
            Defaults to (5, 9, 13).
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to dict(type='BN', momentum=0.03, eps=0.001).
        act_cfg (dict): Activation layer config, e.g. dict(type='Mish'),
            dict(type='LeakyReLU', negative_slope=0.1) or dict(type='SiLU').
            Defaults to dict(type='Mish').
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None: ``init_weights`` gives every ``ConvModule``
            mmcv's Kaiming init, as in mmdet's ``YOLOV3Neck``.

    Example:
        >>> import torch
        >>> import mmdet_parnet  # noqa: F401
        >>> from mmdet_parnet.models import YOLOv4PAFPN
        >>> neck = YOLOv4PAFPN(in_channels=[256, 512, 1024],
        ...                    out_channels=[128, 256, 512],
        ...                    spp='csp', block='csp')
        >>> inputs = [torch.rand(1, c, s, s)
        ...           for c, s in zip([256, 512, 1024], [52, 26, 13])]
        >>> for out in neck(inputs):
        ...     print(tuple(out.shape))
        (1, 128, 52, 52)
        (1, 256, 26, 26)
        (1, 512, 13, 13)
    """

    strides = (8, 16, 32)
    spp_choices = ('plain', 'csp')
    block_choices = ('plain', 'csp')

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: Sequence[int] = (128, 256, 512),
                 spp: str = 'plain',
                 block: str = 'plain',
                 num_csp_blocks: int = 2,
                 spp_kernel_sizes: Sequence[int] = (5, 9, 13),
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = SCALED_YOLOV4_BN,
                 act_cfg: ConfigType = dict(type='Mish'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg)
        num_levels = len(self.strides)
        for name, channels in (('in_channels', in_channels),
                               ('out_channels', out_channels)):
            if len(channels) != num_levels:
                raise ValueError(
                    f'YOLOv4PAFPN takes {num_levels} levels (strides '
                    f'{self.strides}) but {name} has {len(channels)}: '
                    f'{list(channels)}; give one width per stride, e.g. the '
                    f'backbone out channels at strides 8, 16 and 32')
        if spp not in self.spp_choices:
            raise ValueError(f'YOLOv4PAFPN got spp={spp!r}; use one of '
                             f'{self.spp_choices}')
        if block not in self.block_choices:
            raise ValueError(f'YOLOv4PAFPN got block={block!r}; use one of '
                             f'{self.block_choices}')
        if block == 'csp' and num_csp_blocks < 1:
            raise ValueError(f'YOLOv4PAFPN got num_csp_blocks='
                             f'{num_csp_blocks}; an rCSP block needs at '
                             f'least 1 bottleneck')
        self.in_channels = tuple(in_channels)
        self.out_channels = tuple(out_channels)

        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        def fusion_block(channels: int) -> nn.Module:
            """A block fusing a concatenation of two ``channels``-wide maps."""
            if block == 'csp':
                return RCSPBlock(2 * channels, channels, num_csp_blocks,
                                 **cfg)
            return DetectionBlock(2 * channels, channels, **cfg)

        spp_block = SPPCSPBlock if spp == 'csp' else yolov4_spp
        self.spp = spp_block(in_channels[-1], out_channels[-1],
                             spp_kernel_sizes, **cfg)

        # Index i of these lists works on levels i (finer) and i + 1. They
        # (and the Sequentials) are mmengine's, whose init_weights reaches
        # every ConvModule inside, unlike torch's.
        self.reduce_convs = ModuleList()
        self.lateral_convs = ModuleList()
        self.top_down_blocks = ModuleList()
        self.downsample_convs = ModuleList()
        self.bottom_up_blocks = ModuleList()
        for i in range(num_levels - 1):
            fine, coarse = out_channels[i], out_channels[i + 1]
            self.reduce_convs.append(ConvModule(coarse, fine, 1, **cfg))
            self.lateral_convs.append(
                ConvModule(in_channels[i], fine, 1, **cfg))
            self.top_down_blocks.append(fusion_block(fine))
            self.downsample_convs.append(
                ConvModule(fine, coarse, 3, stride=2, padding=1, **cfg))
            self.bottom_up_blocks.append(fusion_block(coarse))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse the backbone maps at strides 8, 16 and 32.

        Args:
            inputs (Sequence[Tensor]): Maps at strides 8, 16 and 32 with
                ``in_channels`` channels.

        Returns:
            tuple[Tensor]: Maps at strides 8, 16 and 32 with
            ``out_channels`` channels.
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f'YOLOv4PAFPN expected {len(self.in_channels)} inputs '
                f'(strides {self.strides}) but got {len(inputs)}; make the '
                f'backbone return its stride 8, 16 and 32 maps (its '
                f'out_indices)')
        for i, (x, channels) in enumerate(zip(inputs, self.in_channels)):
            if x.shape[1] != channels:
                raise ValueError(
                    f'YOLOv4PAFPN expected {channels} channels at input {i} '
                    f'(stride {self.strides[i]}) but got {x.shape[1]}; set '
                    f'neck.in_channels to match the backbone\'s out channels')

        top_down = [self.spp(inputs[-1])]  # coarse to fine
        for i in reversed(range(len(inputs) - 1)):
            lateral = self.lateral_convs[i](inputs[i])
            reduced = self.reduce_convs[i](top_down[-1])
            upsampled = F.interpolate(
                reduced, size=lateral.shape[2:], mode='nearest')
            top_down.append(self.top_down_blocks[i](
                torch.cat((lateral, upsampled), 1)))
        top_down.reverse()  # fine to coarse

        outs = [top_down[0]]
        for i in range(len(inputs) - 1):
            downsampled = self.downsample_convs[i](outs[-1])
            outs.append(self.bottom_up_blocks[i](
                torch.cat((downsampled, top_down[i + 1]), 1)))
        return tuple(outs)
