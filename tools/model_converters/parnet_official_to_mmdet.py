"""Convert a ParNet ImageNet checkpoint released with the paper into an
mmdet-parnet backbone checkpoint.

The release (``imankgoyal/NonDeepNetworks``, v.0.1.0) ships timm ``.pth.tar``
files with ``state_dict`` and usually ``state_dict_ema`` (preferred here);
keys may carry a ``module.`` prefix. The widths are read from the tensor
shapes (the released S is 92 wide: arch ``S92``). The output loads into
``ParNet`` with::

    backbone=dict(type='ParNet', arch='S92', act_cfg=dict(type='ReLU'),
                  init_cfg=dict(type='Pretrained', checkpoint=DST))

The released models were trained with ReLU (their configs spell the SiLU
option in a way the released code ignores), so set ``act_cfg`` as above.

Usage: python tools/model_converters/parnet_official_to_mmdet.py SRC DST
"""
import argparse
import re
from collections import OrderedDict
from pathlib import Path

import torch

from mmdet_parnet import ParNet
from mmdet_parnet.utils.checkpoint_errors import (CheckpointLoadError,
                                                  RefusedCheckpointError,
                                                  load_checkpoint_file)

#: Official block prefix -> our module path.
BLOCKS = [
    (r'inits\.0\.0', 'stem.0'),
    (r'inits\.0\.1', 'stem.1'),
    (r'inits\.1', 'stem.2'),
    (r'inits\.2', 'stem.3'),
    (r'streams\.(\d)\.(\d+)', r'streams.\1.\2'),
    (r'downsamples_2\.0', 'down1'),
    (r'downsamples_2\.1\.2', 'fusion1.block'),
    (r'combine\.2', 'fusion2.block'),
    (r'combine\.3', 'final'),
]
#: Official part inside a block -> ours (the SE conv is handled by role).
PARTS = [
    (r'rbr_dense\.(conv|bn)\.', r'branches.dense.\1.'),
    (r'rbr_1x1\.(?:1\.)?(conv|bn)\.', r'branches.pointwise.\1.'),
    (r'rbr_identity\.', 'skip_bn.'),
]
SE_KEY = 'se.cvsig.conv.weight'
#: The two BNs of each fusion.
FUSION_BNS = [
    (r'downsamples_2\.1\.0\.b1\.', 'fusion1.stream_bn.'),
    (r'downsamples_2\.1\.0\.b2\.', 'fusion1.path_bn.'),
    (r'combine\.0\.b1\.', 'fusion2.stream_bn.'),
    (r'combine\.0\.b2\.', 'fusion2.path_bn.'),
]
WIDTH_KEYS = [
    'streams.0.0.block.rbr_dense.conv.weight',
    'streams.1.0.block.rbr_dense.conv.weight',
    'streams.2.0.block.rbr_dense.conv.weight',
    'combine.3.block.rbr_dense.conv.weight',
]


#: What to do with a file that weights-only loading refuses.
REFUSED_FIX = ("The paper's released files hold only tensors and timm's "
               'training arguments (argparse.Namespace, which this converter '
               'reads); this file asks for more, so it is not one of them. '
               'Download the release again from the authors\' GitHub page.')


class NotAParNetCheckpoint(ValueError):
    """The file is not a ParNet checkpoint in the released layout."""


def _translate(key: str) -> str:
    """Our key for an official key (``module.`` already stripped)."""
    for pattern, target in FUSION_BNS:
        if re.match(pattern, key):
            return re.sub(pattern, target, key, count=1)
    for block, target in BLOCKS:
        match = re.fullmatch(block + r'\.block\.(.+)', key)
        if match is None:
            continue
        prefix, part = match.expand(target), match.groups()[-1]
        if part == SE_KEY:  # SSE in stream blocks, SE elsewhere
            return prefix + ('.sse.weight' if prefix.startswith('streams')
                             else '.se.weight')
        for pattern, ours in PARTS:
            if re.match(pattern, part):
                return f'{prefix}.' + re.sub(pattern, ours, part, count=1)
        raise NotAParNetCheckpoint(f'unexpected key {key!r}')
    raise NotAParNetCheckpoint(f'unexpected key {key!r}')


def load_official(src: str) -> tuple:
    """Read ``src`` weights-only; return (state_dict, which one was used)."""
    # timm stores its argparse.Namespace of training args beside the weights
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            ckpt = load_checkpoint_file(src, refused_fix=REFUSED_FIX)
        except RefusedCheckpointError as err:
            raise NotAParNetCheckpoint(
                f'refused for safety: {err.reason}. {err.fix}') from None
        except CheckpointLoadError as err:
            raise NotAParNetCheckpoint(
                f'cannot read it: {err.reason}. {err.fix}') from None
        except OSError as err:
            raise NotAParNetCheckpoint(f'cannot read it: {err}') from None
    if not isinstance(ckpt, dict):
        raise NotAParNetCheckpoint(
            f'{src} holds a {type(ckpt).__name__}, not a checkpoint dict')
    for name in ('state_dict_ema', 'state_dict'):
        if isinstance(ckpt.get(name), dict) and ckpt[name]:
            state, used = ckpt[name], name
            break
    else:
        state, used = ckpt, 'top level'
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k,
                         v) for k, v in state.items())
    return state, used


def infer_arch(state: dict):
    """The ParNet arch ('S92', ...) or custom arch dict of a released
    state dict, from its tensor shapes."""
    if any(k.startswith(('stem.', 'backbone.')) for k in state):
        raise NotAParNetCheckpoint(
            'its keys (stem.*, backbone.*) are those of an mmdet-parnet '
            'checkpoint: it is already converted')
    missing = [k for k in WIDTH_KEYS if k not in state]
    if missing:
        raise NotAParNetCheckpoint(
            f'it lacks {missing[0]!r}, which every released ParNet has '
            f'(first keys found: {list(state)[:3]})')
    widths = tuple(int(state[k].shape[0]) for k in WIDTH_KEYS)
    num_blocks = tuple(
        len({k.split('.')[2] for k in state if k.startswith(f'streams.{i}.')})
        for i in range(3))
    for name, setting in ParNet.arch_settings.items():
        if setting == widths and num_blocks == ParNet.default_num_blocks:
            return name
    return dict(widths=widths, num_blocks=num_blocks)


def convert(src: str, dst: str) -> dict:
    """Convert ``src`` to ``dst``; return the arch found."""
    state, used = load_official(src)
    arch = infer_arch(state)
    converted = OrderedDict(
        (_translate(k), v) for k, v in state.items()
        if not k.startswith('head.'))
    # Prove the result is a complete ParNet of that arch before writing it.
    model = ParNet(arch, act_cfg=dict(type='ReLU'))
    result = model.load_state_dict(converted, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise NotAParNetCheckpoint(
            f'after conversion, missing keys {result.missing_keys[:5]} and '
            f'unexpected keys {result.unexpected_keys[:5]} for arch {arch}')
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        dict(state_dict=converted,
             meta=dict(parnet_arch=arch, source=str(src), weights=used,
                       act='ReLU')), dst)
    return dict(arch=arch, weights=used)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='released ParNet .pth.tar')
    parser.add_argument('dst', help='output checkpoint for ParNet init_cfg')
    args = parser.parse_args()
    try:
        found = convert(args.src, args.dst)
    except NotAParNetCheckpoint as err:
        raise SystemExit(f'{args.src} is not a ParNet ImageNet checkpoint '
                         f'released with the paper: {err}')
    print(f'Found ParNet arch {found["arch"]!r} ({found["weights"]}); '
          f'wrote {args.dst}.\nUse it with backbone=dict(type=\'ParNet\', '
          f'arch={found["arch"]!r}, act_cfg=dict(type=\'ReLU\'), '
          f'init_cfg=dict(type=\'Pretrained\', checkpoint={args.dst!r})): '
          f'the released weights were trained with ReLU.')


if __name__ == '__main__':
    main()
