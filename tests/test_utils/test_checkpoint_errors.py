"""A file that is not a checkpoint gets an error that names it, says what it
is and how to fix it, on every load path mmengine and mmdet have (the
command-line tools are tested in tests/test_tools/test_bad_checkpoints.py
and test_infer.py), and never advice to switch weights-only loading off."""
import os
import pickle
import random

import pytest
import torch
import torch.nn as nn
from mmdet.apis import DetInferencer
from mmengine.model import BaseModel, BaseModule
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint

from mmdet_parnet.utils import checkpoint_errors
from mmdet_parnet.utils.checkpoint_errors import (CheckpointLoadError,
                                                  RefusedCheckpointError,
                                                  UnreadableCheckpointError,
                                                  load_checkpoint_file)
from tests.utils import write_tiny_config

#: What torch's own message advises; ours must never.
ADVICE = ('weights_only', 'safe_globals', 'TORCH_FORCE', 'trust the source')


class ToyModel(BaseModel):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - labels)**2).mean())
        return out


class ToyBackbone(BaseModule):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.linear = nn.Linear(2, 1)


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 4

    def __getitem__(self, i):
        x = torch.tensor([i / 4, 1.0])
        return dict(inputs=x, labels=x.sum(0, keepdim=True))


class Payload:

    def __reduce__(self):  # unpickling this would run a shell command
        return (os.system, ('echo pwned', ))


#: kind -> (error class, what the message says the file is)
KINDS = {
    'empty': (UnreadableCheckpointError, 'the file is empty (0 bytes)'),
    'truncated': (UnreadableCheckpointError,
                  'it is cut short or damaged: its zip archive has no end'),
    'html': (UnreadableCheckpointError,
             "it is a text file beginning '<!DOCTYPE html><html><body>404 "
             "Not Found</body></html>' (a web page: the download returned a "
             'page, not the file)'),
    'lfs': (UnreadableCheckpointError,
            "a text file beginning 'version https://git-lfs.github.com/"
            "spec/v1' (a Git LFS pointer: fetch the file with git lfs pull)"),
    'garbage': (UnreadableCheckpointError,
                'its content is not what torch.save writes (4096 bytes'),
    'code': (RefusedCheckpointError,
             'it is a pickle that asks to run posix.system, which '
             'weights-only loading does not allow'),
}


def write_bad(path, kind):
    """Write a file of ``kind`` (a key of KINDS) to ``path``."""
    if kind == 'code':
        torch.save({'state_dict': ToyModel().state_dict(), 'meta': Payload()},
                   path)
        return path
    good = path.with_name('good.pth')
    torch.save({'state_dict': ToyModel().state_dict(), 'meta': {}}, good)
    data = {
        'empty': b'',
        'truncated': good.read_bytes()[:600],
        'html': b'<!DOCTYPE html><html><body>404 Not Found</body></html>\n',
        'lfs': b'version https://git-lfs.github.com/spec/v1\n'
               b'oid sha256:4d7a21\nsize 83886080\n',
        'garbage': random.Random(0).randbytes(4096),
    }[kind]
    path.write_bytes(data)
    return path


@pytest.fixture(params=list(KINDS))
def bad(request, tmp_path):
    """(path, kind) of a file that is not a usable checkpoint."""
    return write_bad(tmp_path / f'{request.param}.pth', request.param), \
        request.param


def check(err, path, kind):
    """The error names the file, what it is and the fix, and nothing
    else."""
    error_class, what = KINDS[kind]
    assert type(err) is error_class
    message = str(err)
    if error_class is RefusedCheckpointError:
        assert message.startswith(f'{path} was refused for safety: ')
        assert isinstance(err, pickle.UnpicklingError)
        assert 'convert it with a trusted tool' in message
    else:
        assert message.startswith(f'{path} is not a readable checkpoint: ')
        assert isinstance(err, ValueError)
        assert 'download or copy it again' in message
    assert what in message
    for advice in ADVICE:
        assert advice not in message
    # torch's own message (with its advice) is not chained on either.
    assert err.__cause__ is None and err.__suppress_context__
    copy = pickle.loads(pickle.dumps(err))  # as from another process
    assert type(copy) is error_class and str(copy) == message


def test_load_checkpoint(bad):
    path, kind = bad
    with pytest.raises(CheckpointLoadError) as err:
        load_checkpoint(ToyModel(), str(path), map_location='cpu')
    check(err.value, path, kind)


def test_load_checkpoint_file(bad):
    path, kind = bad
    with pytest.raises(CheckpointLoadError) as err:
        load_checkpoint_file(path)
    check(err.value, path, kind)


def make_runner(work_dir, **kwargs):
    loader = dict(dataset=ToyDataset(), batch_size=2, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        default_scope='mmengine', **kwargs)


@pytest.mark.parametrize('how', ['load_from', 'resume', 'resume-latest'])
def test_runner(tmp_path, how):
    path = write_bad(tmp_path / 'bad.pth', 'truncated')
    work_dir = tmp_path / 'work'
    if how == 'resume-latest':  # tools/train.py --resume with no path
        work_dir.mkdir()
        (work_dir / 'last_checkpoint').write_text(str(path))
        runner = make_runner(work_dir, resume=True)
    else:
        runner = make_runner(work_dir, load_from=str(path),
                             resume=how == 'resume')
    with pytest.raises(CheckpointLoadError) as err:
        runner.train()
    check(err.value, path, 'truncated')


@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_pretrained_init_cfg(tmp_path, prefix):
    path = write_bad(tmp_path / 'bad.pth', 'html')
    module = ToyBackbone(init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                       prefix=prefix))
    with pytest.raises(CheckpointLoadError) as err:
        module.init_weights()
    check(err.value, path, 'html')


@pytest.mark.parametrize('kind', ['truncated', 'code'])
def test_det_inferencer(tmp_path, kind):
    config = write_tiny_config(tmp_path, tmp_path / 'data', tmp_path / 'work')
    path = write_bad(tmp_path / 'bad.pth', kind)
    with pytest.raises(CheckpointLoadError) as err:
        DetInferencer(str(config), str(path), device='cpu')
    check(err.value, path, kind)


def test_other_errors_pass_unchanged(tmp_path):
    # A missing file keeps mmengine's error, which names it.
    with pytest.raises(FileNotFoundError, match='nowhere.pth can not be'):
        load_checkpoint(ToyModel(), str(tmp_path / 'nowhere.pth'))
    # A good checkpoint loads through the wrapper.
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': ToyModel().state_dict(), 'meta': {}}, good)
    assert 'state_dict' in load_checkpoint(ToyModel(), str(good))


def test_installed_once():
    wrapped = CheckpointLoader.__dict__['load_checkpoint']
    checkpoint_errors._install()  # as a second import would
    assert CheckpointLoader.__dict__['load_checkpoint'] is wrapped
