"""ParNet backbone: graph, wiring, taps, errors, freezing and the deployed form."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_parnet import ParNet, switch_to_deploy
from mmdet_parnet.models.parnet import (TAPS, DownsamplingBlock, FusionBlock,
                                 ParNetBlock, RepBranches)

ARCHS = ['S', 'S92', 'M', 'L', 'XL']


def randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """Give every BN non-trivial statistics and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def bn(m: _BatchNorm, x):
    return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias,
                        False, 0.0, m.eps)


def reference_branches(b: RepBranches, x):
    """BN(conv3x3(x)) + BN(conv1x1(x)), the 1x1 behind AvgPool at stride 2."""
    dense = bn(b.dense.bn, F.conv2d(x, b.dense.conv.weight, None, b.stride, 1,
                                     1, b.groups))
    px = F.avg_pool2d(x, 2, 2) if b.stride == 2 else x
    pw = bn(b.pointwise.bn, F.conv2d(px, b.pointwise.conv.weight, None, 1, 0,
                                      1, b.groups))
    return dense + pw


def test_blocks_match_the_paper_formulas():
    torch.manual_seed(0)
    act = dict(type='SiLU')
    norm = dict(type='BN')
    x = torch.randn(2, 8, 16, 16)

    block = ParNetBlock(8, norm, act).eval()
    randomise_bn(block)
    skip = bn(block.skip_bn, x)
    gate = torch.sigmoid(F.conv2d(skip.mean((2, 3), keepdim=True),
                                  block.sse.weight))
    expected = F.silu(reference_branches(block.branches, x) + skip * gate)
    torch.testing.assert_close(block(x), expected)

    down = DownsamplingBlock(8, 12, norm, act).eval()
    randomise_bn(down)
    gate = 2 * torch.sigmoid(F.conv2d(x.mean((2, 3), keepdim=True),
                                      down.se.weight))
    expected = F.silu(reference_branches(down.branches, x) * gate)
    assert down(x).shape == (2, 12, 8, 8)
    torch.testing.assert_close(down(x), expected)

    y, p = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    for stride in (2, 1):
        fusion = FusionBlock(8, 12, stride, norm, act).eval()
        randomise_bn(fusion)
        a, c = bn(fusion.stream_bn, y), bn(fusion.path_bn, p)
        z = torch.empty(2, 16, 16, 16)
        z[:, 0::2], z[:, 1::2] = a, c  # channels a0, c0, a1, c1, ...
        inner = fusion.block
        gate = 2 * torch.sigmoid(F.conv2d(z.mean((2, 3), keepdim=True),
                                          inner.se.weight, groups=2))
        o = F.silu(reference_branches(inner.branches, z) * gate)
        # shuffle: output channel k*2 + g comes from group g's k-th channel
        expected = torch.stack([o[:, :6], o[:, 6:]], 2).flatten(1, 2)
        torch.testing.assert_close(fusion(y, p), expected)
        assert fusion(y, p).shape[-1] == 16 // stride


def test_structure_of_the_released_network():
    model = ParNet('S')
    # the two fusion BNs are separate, and groups=2 sits on all three convs
    for fusion, stride in ((model.fusion1, 2), (model.fusion2, 1)):
        assert fusion.stream_bn is not fusion.path_bn
        inner = fusion.block
        assert inner.branches.dense.conv.groups == 2
        assert inner.branches.pointwise.conv.groups == 2
        assert inner.se.groups == 2
        assert inner.branches.stride == stride
        has_pool = any(isinstance(m, nn.AvgPool2d)
                       for m in inner.branches.pointwise)
        assert has_pool == (stride == 2)
    # SE: no bias, no reduction
    for m in model.modules():
        if isinstance(m, DownsamplingBlock):
            assert m.se.bias is None
            assert m.se.out_channels == m.branches.out_channels
        if isinstance(m, ParNetBlock):
            assert m.sse.bias is None and m.sse.in_channels == m.sse.out_channels
    assert [len(s) for s in model.streams] == [4, 5, 5]
    assert [b.branches.out_channels for b in model.stem] == [64, 96, 192, 384]
    assert isinstance(model.stem[0].act, nn.SiLU)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.eps == 1e-5 and m.momentum == 0.1 for m in bns)
    relu = ParNet('S', act_cfg=dict(type='ReLU'))
    assert isinstance(relu.streams[0][0].act, nn.ReLU)


@pytest.mark.parametrize('arch', ARCHS)
def test_default_taps_and_widths(arch):
    model = ParNet(arch).eval()
    c1, c2, c3, c4 = ParNet.arch_settings[arch]
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, c2, 8, 12), (1, c3, 4, 6),
                                             (1, c4, 2, 3)]
    assert model.out_channels == (c2, c3, c4)
    assert model.out_strides == (8, 16, 32)


def test_every_tap_selectable_in_ascending_stride():
    model = ParNet('S', out_indices=(6, 0, 3, 1, 2, 4, 5)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert len(outs) == len(TAPS)
    strides = [64 // o.shape[-1] for o in outs]
    assert strides == [stride for _, stride, _ in TAPS] == sorted(strides)
    assert [o.shape[1] for o in outs] == list(model.out_channels)
    assert model.out_channels == (96, 192, 192, 384, 384, 384, 1280)


def test_final_width_override_and_untapped_final():
    model = ParNet('XL', final_channels=512).eval()
    assert model.out_channels[-1] == 512
    assert model(torch.rand(1, 3, 32, 32))[-1].shape[1] == 512
    no_final = ParNet('S', out_indices=(2, 5))
    assert no_final.final is None
    assert not any('final' in k for k in no_final.state_dict())


def test_custom_arch():
    model = ParNet(dict(widths=(16, 32, 48, 64), num_blocks=(1, 2, 1)))
    assert [len(s) for s in model.streams] == [1, 2, 1]
    assert model.out_channels == (32, 48, 64)
    assert model.stem[0].branches.out_channels == 16  # min(64, C1)


@pytest.mark.parametrize('arch, match', [
    ('XXL', r"valid archs are \['L', 'M', 'S', 'S92', 'XL'\]"),
    (dict(widths=(1, 2, 3)), 'four positive ints'),
    (dict(widths=(8, 8, 8, 8), depth=3), 'num_blocks'),
    (50, 'must be one of'),
])
def test_bad_arch(arch, match):
    with pytest.raises(ValueError, match=match):
        ParNet(arch)


@pytest.mark.parametrize('kwargs, match', [
    (dict(out_indices=(7, )), 'stream1'),
    (dict(out_indices=()), 'non-empty'),
    (dict(frozen_stages=5), 'frozen_stages'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParNet('S', **kwargs)


@pytest.mark.parametrize('size', [(1, 3, 100, 96), (1, 3, 96, 48)])
def test_input_size_must_be_divisible_by_32(size):
    model = ParNet(dict(widths=(8, 8, 8, 8), num_blocks=(1, 1, 1)))
    with pytest.raises(ValueError, match='pad_size_divisor=32') as err:
        model(torch.rand(*size))
    assert f'{size[2]}x{size[3]}' in str(err.value)


def test_frozen_stages_and_norm_eval():
    model = ParNet('S', frozen_stages=1, norm_eval=False)
    model.train()
    for module in (model.stem, model.streams[0], model.down1):
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    for module in (model.streams[1], model.fusion1, model.final):
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules())

    model = ParNet('S', norm_eval=True)
    model.train()
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
    assert model.final.se.training


def test_pretrained_init_cfg(tmp_path):
    source = ParNet('S')
    randomise_bn(source, seed=3)
    path = tmp_path / 'parnet_s.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    model = ParNet('S', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


@pytest.mark.parametrize('arch', ARCHS)
def test_deploy_matches_training_form(arch):
    torch.manual_seed(0)
    model = ParNet(arch, out_indices=tuple(range(len(TAPS)))).eval()
    randomise_bn(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x)
        model.switch_to_deploy()
        deployed = model(x)
        model.switch_to_deploy()  # a second switch is harmless
        again = model(x)
    assert model.deployed
    assert not any(isinstance(m, RepBranches) and hasattr(m, 'dense')
                   for m in model.modules())
    for ref, dep, rep in zip(reference, deployed, again):
        scale = ref.abs().max()
        assert scale > 0
        assert (ref - dep).abs().max() / scale < 1e-5
        torch.testing.assert_close(dep, rep, rtol=0, atol=0)


def test_deployed_model_refuses_training():
    detector_like = nn.Sequential(ParNet('S'))
    assert switch_to_deploy(detector_like)
    assert not detector_like.training
    with pytest.raises(RuntimeError, match='inference only'):
        detector_like.train()
    detector_like.eval()  # evaluation stays allowed
