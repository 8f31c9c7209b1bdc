import pytest
import torch
from mmcv.cnn import ConvModule
from mmdet.models.layers.csp_layer import DarknetBottleneck
from mmdet.registry import MODELS
from torch import nn

import mmdet_parnet  # noqa: F401
from mmdet_parnet.models.yolov4_pafpn import RCSPBlock

IN_CHANNELS = (8, 12, 16)
OUT_CHANNELS = (4, 8, 16)
SIZES = ((16, 24), (8, 12), (4, 6))  # a 128x192 image at strides 8, 16, 32


def _inputs(sizes=SIZES, in_channels=IN_CHANNELS, requires_grad=False):
    return [
        torch.rand(2, c, h, w, requires_grad=requires_grad)
        for c, (h, w) in zip(in_channels, sizes)
    ]


def _build(**kwargs):
    cfg = dict(
        type='YOLOv4PAFPN', in_channels=IN_CHANNELS,
        out_channels=OUT_CHANNELS)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _conv_kernels(module):
    return [m.conv.kernel_size[0] for m in module.modules()
            if isinstance(m, ConvModule)]


@pytest.mark.parametrize('spp', ['plain', 'csp'])
@pytest.mark.parametrize('block', ['plain', 'csp'])
def test_yolov4_pafpn_output_shapes(spp, block):
    neck = _build(spp=spp, block=block)
    outs = neck(_inputs())
    # Ascending strides 8, 16, 32 with out_channels[i] channels.
    assert [tuple(out.shape) for out in outs] == [
        (2, c, h, w) for c, (h, w) in zip(OUT_CHANNELS, SIZES)
    ]


@pytest.mark.parametrize('block', ['plain', 'csp'])
def test_yolov4_pafpn_sizes_not_divisible_by_32(block):
    # A 100x100 image: the backbone's stride-2 convs give 13, 7 and 4.
    sizes = ((13, 13), (7, 7), (4, 4))
    outs = _build(block=block)(_inputs(sizes))
    assert [out.shape[2:] for out in outs] == [torch.Size(s) for s in sizes]


@pytest.mark.parametrize('block', ['plain', 'csp'])
@pytest.mark.parametrize('act_cfg, act_type', [
    (dict(type='Mish'), nn.Mish),
    (dict(type='LeakyReLU', negative_slope=0.1), nn.LeakyReLU),
    (dict(type='SiLU'), nn.SiLU),
])
def test_yolov4_pafpn_activations(block, act_cfg, act_type):
    neck = _build(spp=block, block=block, act_cfg=act_cfg)
    acts = [m for m in neck.modules()
            if isinstance(m, (nn.Mish, nn.LeakyReLU, nn.SiLU, nn.ReLU))]
    assert acts and all(type(m) is act_type for m in acts)
    if act_type is nn.LeakyReLU:
        assert all(m.negative_slope == 0.1 for m in acts)
    outs = neck(_inputs())
    assert [out.shape[1] for out in outs] == list(OUT_CHANNELS)


@pytest.mark.parametrize('spp, block', [('plain', 'plain'), ('csp', 'csp')])
def test_yolov4_pafpn_gradients(spp, block):
    neck = _build(spp=spp, block=block)
    inputs = _inputs(requires_grad=True)
    outs = neck(inputs)
    sum((out * torch.randn_like(out)).sum() for out in outs).backward()
    for x in inputs:
        assert x.grad is not None and x.grad.abs().sum() > 0
    for name, param in neck.named_parameters():
        assert param.grad is not None, f'{name} is unused'


@pytest.mark.parametrize('spp, block', [('plain', 'plain'), ('csp', 'csp')])
def test_yolov4_pafpn_init_weights_reaches_every_conv(spp, block):
    neck = _build(spp=spp, block=block)
    convs = {name: m.conv.weight.clone() for name, m in neck.named_modules()
             if isinstance(m, ConvModule)}
    neck.init_weights()
    unchanged = [name for name, m in neck.named_modules()
                 if name in convs and torch.equal(m.conv.weight, convs[name])]
    assert not unchanged


def test_yolov4_pafpn_plain_layers():
    c = OUT_CHANNELS[-1]
    neck = _build(spp='plain', block='plain')
    # Darknet's SPP block: 1x1, 3x3, 1x1, SPP, 1x1, 3x3, 1x1.
    assert _conv_kernels(neck.spp) == [1, 3, 1, 1, 3, 1]
    assert [(m.in_channels, m.out_channels) for m in neck.spp.modules()
            if isinstance(m, nn.Conv2d)] == [
                (IN_CHANNELS[-1], c), (c, 2 * c), (2 * c, c), (4 * c, c),
                (c, 2 * c), (2 * c, c)]
    pools = [m for m in neck.spp.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(m.kernel_size, m.stride) for m in pools] == [(5, 1), (9, 1),
                                                          (13, 1)]
    # Four five-conv blocks; each fuses a concatenation (not a sum).
    blocks = [*neck.top_down_blocks, *neck.bottom_up_blocks]
    assert len(blocks) == 4
    for blk, channels in zip(blocks, OUT_CHANNELS[:2] + OUT_CHANNELS[1:]):
        assert _conv_kernels(blk) == [1, 3, 1, 3, 1]
        assert blk.conv1.conv.in_channels == 2 * channels
        assert blk.conv5.conv.out_channels == channels
    assert [m.conv.stride for m in neck.downsample_convs] == [(2, 2)] * 2


def test_yolov4_pafpn_csp_layers():
    neck = _build(spp='csp', block='csp', num_csp_blocks=3)
    pools = [m for m in neck.spp.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(m.kernel_size, m.stride) for m in pools] == [(5, 1), (9, 1),
                                                          (13, 1)]
    # Scaled-YOLOv4's CSPSPP: 1x1, 3x3, 1x1, SPP, 1x1, 3x3, then 1x1 fuse.
    assert _conv_kernels(neck.spp) == [1, 3, 1, 1, 3, 1]
    blocks = [*neck.top_down_blocks, *neck.bottom_up_blocks]
    assert all(isinstance(blk, RCSPBlock) for blk in blocks)
    for blk in blocks:
        bottlenecks = [m for m in blk.modules()
                       if isinstance(m, DarknetBottleneck)]
        assert len(bottlenecks) == 3
        assert not any(m.add_identity for m in bottlenecks)


def test_yolov4_pafpn_spp_kernel_sizes():
    for spp in ('plain', 'csp'):
        neck = _build(spp=spp, spp_kernel_sizes=(3, 7))
        pools = [m for m in neck.spp.modules()
                 if isinstance(m, nn.MaxPool2d)]
        assert [m.kernel_size for m in pools] == [3, 7]
        assert neck(_inputs())[-1].shape[1] == OUT_CHANNELS[-1]


@pytest.mark.parametrize('kwargs, message', [
    (dict(in_channels=(8, 16)), 'in_channels has 2'),
    (dict(out_channels=(4, 8, 16, 32)), 'out_channels has 4'),
    (dict(spp='sppf'), "spp='sppf'; use one of"),
    (dict(block='fpn'), "block='fpn'; use one of"),
    (dict(block='csp', num_csp_blocks=0), 'num_csp_blocks=0'),
])
def test_yolov4_pafpn_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _build(**kwargs)


def test_yolov4_pafpn_invalid_inputs():
    neck = _build()
    with pytest.raises(ValueError, match='expected 3 inputs .* but got 2'):
        neck(_inputs()[1:])
    wrong = _inputs(in_channels=(8, 8, 16))
    with pytest.raises(
            ValueError,
            match=r'expected 12 channels at input 1 \(stride 16\) but got 8; '
            r'set neck.in_channels'):
        neck(wrong)


def _conv_bn(c_in, c_out, k=1):
    """Parameters of a bias-free conv followed by a BN."""
    return c_in * c_out * k * k + 2 * c_out


def _reference_parameter_count(spp, block, num_csp_blocks=2):
    """Count darknet yolov4.cfg's or Scaled-YOLOv4 yolov4-csp.yaml's neck."""
    (i0, i1, i2), (c0, c1, c2) = IN_CHANNELS, OUT_CHANNELS
    if spp == 'plain':  # 1x1, 3x3, [1x1, pools, 1x1], 3x3, 1x1
        count = (_conv_bn(i2, c2) + _conv_bn(c2, 2 * c2, 3) +
                 _conv_bn(2 * c2, c2) + _conv_bn(4 * c2, c2) +
                 _conv_bn(c2, 2 * c2, 3) + _conv_bn(2 * c2, c2))
    else:  # SPPCSP: cv1..cv7 with a bare cv2 and a BN over the concat
        count = (_conv_bn(i2, c2) + i2 * c2 + _conv_bn(c2, c2, 3) +
                 _conv_bn(c2, c2) + _conv_bn(4 * c2, c2) +
                 _conv_bn(c2, c2, 3) + 2 * 2 * c2 + _conv_bn(2 * c2, c2))

    def fusion(c):
        if block == 'plain':  # five convs: 1x1, 3x3, 1x1, 3x3, 1x1
            return 3 * _conv_bn(2 * c, c) + 2 * _conv_bn(c, 2 * c, 3)
        # BottleneckCSP2: cv1, bare cv2, BN over the concat, cv3, bottlenecks
        return (2 * _conv_bn(2 * c, c) + c * c + 2 * 2 * c +
                num_csp_blocks * (_conv_bn(c, c) + _conv_bn(c, c, 3)))

    count += _conv_bn(c2, c1) + _conv_bn(i1, c1) + fusion(c1)  # top-down
    count += _conv_bn(c1, c0) + _conv_bn(i0, c0) + fusion(c0)
    count += _conv_bn(c0, c1, 3) + fusion(c1)  # bottom-up
    count += _conv_bn(c1, c2, 3) + fusion(c2)
    return count


@pytest.mark.parametrize('spp', ['plain', 'csp'])
@pytest.mark.parametrize('block', ['plain', 'csp'])
def test_yolov4_pafpn_parameter_count_matches_reference(spp, block):
    neck = _build(spp=spp, block=block)
    count = sum(p.numel() for p in neck.parameters())
    assert count == _reference_parameter_count(spp, block)
