"""The converter from the authors' released ImageNet checkpoints."""
import argparse
import subprocess
import sys

import pytest
import torch

from mmdet_parnet import ParNet
from tests.utils import REPO, load_tool

converter = load_tool('model_converters/parnet_official_to_mmdet.py')

#: Our module path -> the released layout's block prefix (docs/parnet.md),
#: written out independently of the converter's own tables.
OFFICIAL_BLOCKS = {
    'stem.0': 'inits.0.0', 'stem.1': 'inits.0.1', 'stem.2': 'inits.1',
    'stem.3': 'inits.2', 'down1': 'downsamples_2.0',
    'fusion1.block': 'downsamples_2.1.2', 'fusion2.block': 'combine.2',
    'final': 'combine.3',
}
OFFICIAL_FUSION_BNS = {
    'fusion1.stream_bn': 'downsamples_2.1.0.b1',
    'fusion1.path_bn': 'downsamples_2.1.0.b2',
    'fusion2.stream_bn': 'combine.0.b1', 'fusion2.path_bn': 'combine.0.b2',
}


def official_key(key: str, stride2_blocks: set) -> str:
    """The released checkpoint's name for one of our keys."""
    for ours, theirs in OFFICIAL_FUSION_BNS.items():
        if key.startswith(ours + '.'):
            return theirs + key[len(ours):]
    parts = key.split('.')
    if parts[0] == 'streams':
        block, rest = 'streams.' + '.'.join(parts[1:3]), parts[3:]
    else:
        n = 2 if parts[0] in ('stem', 'fusion1', 'fusion2') else 1
        block, rest = OFFICIAL_BLOCKS['.'.join(parts[:n])], parts[n:]
    rest = '.'.join(rest)
    if rest in ('se.weight', 'sse.weight'):
        rest = 'se.cvsig.conv.weight'
    elif rest.startswith('skip_bn.'):
        rest = 'rbr_identity.' + rest[len('skip_bn.'):]
    elif rest.startswith('branches.dense.'):
        rest = 'rbr_dense.' + rest[len('branches.dense.'):]
    elif rest.startswith('branches.pointwise.'):
        one = 'rbr_1x1.1.' if block in stride2_blocks else 'rbr_1x1.'
        rest = one + rest[len('branches.pointwise.'):]
    return f'{block}.block.{rest}'


def write_release(path, arch='S92', ema=True, module_prefix=True, seed=0):
    """A checkpoint in the released timm layout, from a random ParNet."""
    torch.manual_seed(seed)
    model = ParNet(arch)
    for p in model.state_dict().values():
        if p.is_floating_point():
            p.copy_(torch.randn_like(p))
    stride2 = {OFFICIAL_BLOCKS[k] for k in ('stem.0', 'stem.1', 'stem.2',
                                            'stem.3', 'down1', 'final',
                                            'fusion1.block')}
    prefix = 'module.' if module_prefix else ''
    state = {prefix + official_key(k, stride2): v
             for k, v in model.state_dict().items()}
    state[prefix + 'head.fc.weight'] = torch.randn(1000, model.widths[3])
    state[prefix + 'head.fc.bias'] = torch.randn(1000)
    ckpt = {'epoch': 300, 'arch': 'parnet_s', 'args': argparse.Namespace(lr=1),
            'state_dict': state}
    if ema:  # EMA weights differ: the converter must prefer them
        ckpt['state_dict'] = {k: v + 1 if v.is_floating_point() else v
                              for k, v in state.items()}
        ckpt['state_dict_ema'] = state
    torch.save(ckpt, path)
    return model


@pytest.mark.parametrize('arch, ema, module_prefix', [('S92', True, True),
                                                      ('S', False, False)])
def test_converted_weights_load_exactly(tmp_path, arch, ema, module_prefix):
    src, dst = tmp_path / 'parnet.pth.tar', tmp_path / 'converted.pth'
    reference = write_release(src, arch, ema, module_prefix)
    found = converter.convert(str(src), str(dst))
    assert found['arch'] == arch
    assert found['weights'] == ('state_dict_ema' if ema else 'state_dict')

    model = ParNet(arch, act_cfg=dict(type='ReLU'),
                   init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    loaded, expected = model.state_dict(), reference.state_dict()
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, msg=key)


def test_custom_widths_are_inferred(tmp_path):
    arch = dict(widths=(32, 48, 64, 128), num_blocks=(4, 5, 5))
    src, dst = tmp_path / 'tiny.pth.tar', tmp_path / 'tiny.pth'
    write_release(src, arch)
    assert converter.convert(str(src), str(dst))['arch'] == dict(
        widths=(32, 48, 64, 128), num_blocks=(4, 5, 5))


def test_cli_prints_the_arch_and_relu(tmp_path):
    src, dst = tmp_path / 'parnet.pth.tar', tmp_path / 'out' / 'parnet.pth'
    write_release(src)
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools/model_converters/'
                             'parnet_official_to_mmdet.py'), str(src),
         str(dst)], capture_output=True, text=True, check=True)
    assert "arch 'S92'" in result.stdout and 'ReLU' in result.stdout
    assert dst.exists()


def test_refuses_what_is_not_a_release(tmp_path):
    cases = {
        'resnet.pth': {'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7)}},
        'ours.pth': {'state_dict': ParNet(dict(widths=(8, 8, 8, 8))).state_dict()},
        'list.pth': [1, 2, 3],
    }
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    expectations = {'resnet.pth': 'lacks', 'ours.pth': 'already converted',
                    'list.pth': 'holds a list', 'text.pth': 'cannot read'}
    for name, message in expectations.items():
        with pytest.raises(converter.NotAParNetCheckpoint, match=message):
            converter.convert(str(tmp_path / name), str(tmp_path / 'x.pth'))
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools/model_converters/'
                             'parnet_official_to_mmdet.py'),
         str(tmp_path / 'resnet.pth'), str(tmp_path / 'x.pth')],
        capture_output=True, text=True)
    assert result.returncode != 0
    assert 'is not a ParNet ImageNet checkpoint' in result.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_refuses_pickled_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ('pwned', ))

    src = tmp_path / 'evil.pth.tar'
    torch.save({'state_dict': {}, 'payload': Payload()}, src)
    with pytest.raises(converter.NotAParNetCheckpoint, match='weights-only'):
        converter.convert(str(src), str(tmp_path / 'x.pth'))
