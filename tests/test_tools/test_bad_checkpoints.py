"""The command-line tools meet a file that is not a checkpoint: mmdet's own
test.py, our train.py --resume, and the model converters name the file, say
what it is and how to fix it, and never advise switching weights-only
loading off (every load path in-process: tests/test_utils/
test_checkpoint_errors.py; tools/infer.py: test_infer.py)."""
import os

import pytest
import torch

from mmdet_parnet.datasets import make_shapes_dataset
from mmdet_parnet.utils.mmdet_tools import mmdet_tool
from tests.utils import load_tool, run, write_tiny_config

#: torch's advice, which must never reach a user.
ADVICE = ('weights_only', 'safe_globals', 'TORCH_FORCE')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A tiny config on a tiny shapes data set, a checkpoint cut short and a
    text file posing as one."""
    tmp = tmp_path_factory.mktemp('bad_ckpt')
    data_root = tmp / 'shapes'
    make_shapes_dataset(str(data_root), num_train=4, num_val=2, num_test=2,
                        img_size=64, seed=0)
    config = write_tiny_config(tmp, data_root, tmp / 'work')
    good = tmp / 'good.pth'
    torch.save(dict(state_dict={'w': torch.zeros(64, 64)}, meta={}), good)
    cut = tmp / 'cut.pth'
    cut.write_bytes(good.read_bytes()[:4000])
    text = tmp / 'text.pth'
    text.write_text('version https://git-lfs.github.com/spec/v1\n'
                    'oid sha256:0123\nsize 1000\n')
    return dict(tmp=tmp, config=config, cut=cut, text=text)


def assert_names_the_problem(result, message):
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]
    for advice in ADVICE:
        assert advice not in result.stderr


def test_mmdet_test_script(setup):
    # mmdet's own tools/test.py: the config's custom_imports load the package.
    result = run([mmdet_tool('test.py'), setup['config'], setup['cut'],
                  '--work-dir', setup['tmp'] / 'test'], check=False)
    assert_names_the_problem(
        result, f'UnreadableCheckpointError: {setup["cut"]} is not a '
        'readable checkpoint: it is cut short or damaged')


def test_train_resume(setup):
    result = run(['tools/train.py', setup['config'], '--resume',
                  setup['text'], '--work-dir', setup['tmp'] / 'train'],
                 check=False)
    assert_names_the_problem(
        result, f'UnreadableCheckpointError: {setup["text"]} is not a '
        "readable checkpoint: it is a text file beginning 'version "
        "https://git-lfs.github.com/spec/v1' (a Git LFS pointer")


def test_parnet_deploy(setup):
    out = setup['tmp'] / 'deployed.pth'
    result = run(['tools/model_converters/parnet_deploy.py', setup['config'],
                  setup['cut'], out], check=False)
    assert_names_the_problem(
        result, f'error: {setup["cut"]} is not a readable checkpoint: it is '
        'cut short or damaged')
    assert 'Traceback' not in result.stderr
    assert not out.exists()


class Payload:

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


def test_parnet_official_to_mmdet(setup, tmp_path):
    converter = load_tool('model_converters/parnet_official_to_mmdet.py')
    evil = tmp_path / 'evil.pth.tar'
    torch.save({'state_dict_ema': {}, 'payload': Payload()}, evil)
    cases = {
        setup['cut']: 'cannot read it: it is cut short or damaged',
        setup['text']: 'cannot read it: it is a text file',
        evil: 'refused for safety: it is a pickle that asks to run '
              'posix.system, which weights-only loading does not allow',
    }
    for src, message in cases.items():
        with pytest.raises(converter.NotAParNetCheckpoint) as err:
            converter.convert(str(src), str(tmp_path / 'out.pth'))
        assert message in str(err.value)
        for advice in ADVICE:
            assert advice not in str(err.value)
    assert 'Download the release again' in str(err.value)
    assert not (tmp_path / 'out.pth').exists()
