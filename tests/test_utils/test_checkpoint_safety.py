"""mmengine checkpoints load weights-only on torch >= 2.6, and only them."""
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import mmdet_parnet  # noqa: F401  (allowlists mmengine's checkpoint classes)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - labels) ** 2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = torch.tensor([i / 8, 1.0])
        return dict(inputs=x, labels=x.sum(0, keepdim=True))


def make_runner(work_dir, max_epochs, resume=False):
    loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler',
                                                     shuffle=False),
                  batch_size=4, num_workers=0,
                  collate_fn=dict(type='default_collate'))
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        resume=resume, randomness=dict(seed=0), default_scope='mmengine')


def test_training_checkpoint_resumes_weights_only(tmp_path):
    make_runner(tmp_path, max_epochs=2).train()
    ckpt = tmp_path / 'epoch_2.pth'
    # the raw file holds mmengine's HistoryBuffer and numpy objects ...
    raw = torch.load(ckpt, weights_only=True)
    assert 'message_hub' in raw and raw['meta']['epoch'] == 2
    # ... and resuming goes through torch.load's weights-only default
    runner = make_runner(tmp_path, max_epochs=3, resume=True)
    runner.train()
    assert runner.epoch == 3 and runner.iter == 6


def test_pickled_code_is_refused(tmp_path):
    marker = tmp_path / 'ran'

    class Payload:
        def __reduce__(self):  # opening the file would run on unpickling
            return (open, (str(marker), 'w'))

    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': ToyModel().state_dict(), 'meta': Payload()},
               path)
    with pytest.raises(pickle.UnpicklingError) as err:
        load_checkpoint(ToyModel(), str(path), map_location='cpu')
    assert not marker.exists()
    # Refused, with the reason and a way out that keeps the check on
    # (tests/test_utils/test_checkpoint_errors.py tests the messages).
    message = str(err.value)
    assert f'{path} was refused for safety' in message
    assert 'builtins.open' in message or 'io.open' in message
    assert 'weights_only' not in message


@pytest.mark.parametrize('target, name', [(HistoryBuffer, '__init__'),
                                          (HistoryBuffer, 'update')])
def test_getattr_only_reaches_history_buffer_statistics(tmp_path, target,
                                                        name):
    class Lookup:
        def __reduce__(self):
            return (getattr, (target, name))

    path = tmp_path / 'lookup.pth'
    torch.save({'meta': Lookup()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        torch.load(path, weights_only=True)
    buffer = HistoryBuffer([1.0, 3.0], [1, 1])
    torch.save({'buffer': buffer}, path)
    assert torch.load(path, weights_only=True)['buffer'].mean() == 2.0
