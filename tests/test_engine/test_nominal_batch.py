"""NominalBatchHook: Scaled-YOLOv4's accumulation count and weight-decay
factor, the summed accumulated gradient in an mmengine run, and a
2-process (gloo) step whose gradient is the single-process gradient of the
same global batch under the reference's rule."""
import logging
import time
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from mmdet_parnet.engine import NominalBatchHook, nominal_batch_settings
from mmdet_parnet.engine.nominal_batch import _images_per_iteration
from mmdet_parnet.models import YOLOv4Head
from tests.utils import SIZES, box, free_port


@pytest.mark.parametrize('total,accumulate,factor', [
    (128, 1, 2.0),  # 8 GPUs x 16: round(0.5) = 0 -> 1; decay x 2
    (64, 1, 1.0),
    (96, 1, 1.5),
    (48, 1, 0.75),
    (40, 2, 1.25),
    (24, 3, 1.125),
    (16, 4, 1.0),  # 1 GPU x 16
    (8, 8, 1.0),
])
def test_settings_follow_scaled_yolov4_train_py(total, accumulate, factor):
    """accumulate = max(round(64 / total), 1), weight decay x total *
    accumulate / 64."""
    assert nominal_batch_settings(total) == (accumulate, factor)


def test_settings_round_halves_to_even_as_python():
    assert nominal_batch_settings(4, 10) == (2, 0.8)  # round(2.5) = 2
    assert nominal_batch_settings(4, 14) == (4, 16 / 14)  # round(3.5) = 4


def make_wrapper(model=None, **kwargs):
    model = model or nn.Linear(3, 2)
    optimizer = torch.optim.SGD([
        dict(params=[model.weight], weight_decay=5e-4),
        dict(params=[model.bias], weight_decay=0.),
    ], lr=0.1, momentum=0.9)
    return OptimWrapper(optimizer, **kwargs)


def fake_runner(optim_wrapper, batch_size, auto_scale_lr=None):
    """What the hook reads of an mmengine Runner."""
    return SimpleNamespace(
        optim_wrapper=optim_wrapper, auto_scale_lr=auto_scale_lr,
        train_dataloader=SimpleNamespace(batch_size=batch_size),
        logger=logging.getLogger('nominal_batch_test'))


def test_hook_scales_weight_decay_once_also_after_a_resume():
    wrapper = make_wrapper()
    hook = NominalBatchHook()
    runner = fake_runner(wrapper, batch_size=16)
    with mock.patch('mmdet_parnet.engine.nominal_batch.get_world_size',
                    return_value=8):
        hook.before_run(runner)
    hook.before_train(runner)
    assert wrapper._accumulative_counts == 1
    decays = [g['weight_decay'] for g in wrapper.optimizer.param_groups]
    assert decays == [1e-3, 0.]

    # Resumed on one GPU: the configured 5e-4 is scaled, not the 1e-3.
    resumed = make_wrapper()
    resumed.load_state_dict(wrapper.state_dict())
    hook = NominalBatchHook()
    runner = fake_runner(resumed, batch_size=16)
    hook.before_run(runner)
    hook.before_train(runner)
    assert resumed._accumulative_counts == 4
    decays = [g['weight_decay'] for g in resumed.optimizer.param_groups]
    assert decays == [5e-4, 0.]


@pytest.mark.parametrize('change,message', [
    (dict(auto_scale_lr=dict(enable=True, base_batch_size=64)),
     'auto_scale_lr'),
    (dict(accumulative_counts=2), 'accumulative_counts'),
    (dict(dict_wrapper=True), 'single OptimWrapper'),
])
def test_hook_refuses_what_would_scale_twice(change, message):
    wrapper = make_wrapper(accumulative_counts=change.get(
        'accumulative_counts', 1))
    if change.get('dict_wrapper'):
        wrapper = OptimWrapperDict(a=wrapper)
    runner = fake_runner(wrapper, 16, change.get('auto_scale_lr'))
    with pytest.raises(ValueError, match=message):
        NominalBatchHook().before_run(runner)


def test_hook_leaves_test_runs_and_bad_sizes_alone():
    runner = fake_runner(dict(optimizer=dict(type='SGD')), 16)
    NominalBatchHook().before_run(runner)  # a config, not a wrapper
    with pytest.raises(ValueError, match='nominal_batch_size'):
        NominalBatchHook(nominal_batch_size=0)
    loader = SimpleNamespace(batch_size=None,
                             batch_sampler=SimpleNamespace(batch_size=5))
    assert _images_per_iteration(loader) == 5


# --- an mmengine run: summed accumulation -----------------------------------


class ToyModel(BaseModel):
    """``loss = sum of (w . x - t)^2`` over the batch's samples."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1, bias=False)
        nn.init.constant_(self.linear.weight, 0.5)

    def forward(self, inputs, targets=None, mode='loss'):
        x, t = torch.stack(inputs), torch.stack(targets)
        return dict(loss=(self.linear(x)[:, 0] - t).pow(2).sum())


def test_runner_accumulates_summed_gradients_with_scaled_decay(tmp_path):
    """12 samples, 2 per iteration, nominal batch 5: round(2.5) = 2
    iterations per step (3 steps), weight decay x 4 / 5; each step applies
    the sum of its iterations' gradients, as Scaled-YOLOv4 does."""
    gen = torch.Generator().manual_seed(0)
    xs, ts = torch.randn(12, 2, generator=gen), torch.randn(12, generator=gen)
    data = [dict(inputs=x, targets=t) for x, t in zip(xs, ts)]
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        default_scope='mmdet',
        train_dataloader=dict(
            dataset=data, batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, weight_decay=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        custom_hooks=[dict(type='NominalBatchHook', nominal_batch_size=5)],
        default_hooks=dict(checkpoint=None, logger=None),
        log_level='WARNING')
    runner.train()
    assert runner.optim_wrapper._accumulative_counts == 2

    w = torch.full((2, ), 0.5)
    for step in range(3):
        x, t = xs[4 * step:4 * step + 4], ts[4 * step:4 * step + 4]
        grad = 2 * ((x @ w - t)[:, None] * x).sum(0)
        w = w - 0.1 * (grad + 0.01 * 0.8 * w)
    torch.testing.assert_close(runner.model.linear.weight[0].detach(), w)


# --- two processes (gloo) against one ---------------------------------------

WORLD_SIZE = 2
IMAGES = 2  # per process and iteration
NOMINAL = 10  # 4 images per iteration: round(2.5) = 2 iterations per step
ACCUMULATE, FACTOR = 2, 0.8
WEIGHT_DECAY = 5e-4


def tiny_head():
    torch.manual_seed(0)
    head = YOLOv4Head(
        num_classes=3, in_channels=(4, 4, 4), out_channels=(8, 8, 8),
        train_cfg=dict(assigner=dict(type='YOLOv4ShapeAssigner')))
    head.init_weights()
    return head


def micro_batch(iteration, rank):
    """Features and boxes of one process's iteration (the second image of
    the last one has no box)."""
    gen = torch.Generator().manual_seed(100 * iteration + rank)
    feats = [torch.rand(IMAGES, 4, h, w, generator=gen) for h, w in SIZES]
    batch = []
    for i in range(IMAGES):
        num = 0 if (iteration, rank, i) == (1, 1, 1) else 1 + i
        xy = torch.rand(num, 2, generator=gen) * 48 + 8
        wh = torch.rand(num, 2, generator=gen) * 30 + 6
        batch.append(InstanceData(
            bboxes=torch.tensor([box(*c, *s) for c, s in zip(
                xy.tolist(), wh.tolist())]).view(-1, 4),
            labels=torch.randint(3, (num, ), generator=gen)))
    metas = [dict(img_shape=(64, 64))] * IMAGES
    return feats, batch, metas


def sgd(head):
    return torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9,
                           weight_decay=WEIGHT_DECAY)


def ddp_worker(rank, port, out_dir):
    """One process: DDP head, mmengine OptimWrapper, the hook; saves the
    gradient the optimizer steps with."""
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=WORLD_SIZE)
    try:
        head = tiny_head()
        model = nn.parallel.DistributedDataParallel(head)
        wrapper = OptimWrapper(sgd(head))
        runner = fake_runner(wrapper, IMAGES)
        hook = NominalBatchHook(NOMINAL)
        hook.before_run(runner)
        wrapper.initialize_count_status(head, 0, ACCUMULATE)
        hook.before_train(runner)
        stepped = []
        wrapper.optimizer.register_step_pre_hook(
            lambda *_: stepped.append(
                [p.grad.clone() for p in head.parameters()]))
        for iteration in range(ACCUMULATE):
            hook.before_train_iter(runner, iteration)
            feats, batch, metas = micro_batch(iteration, rank)
            with wrapper.optim_context(model):
                losses = head.loss_by_feat(*model(feats), batch, metas)
            wrapper.update_params(sum(losses.values()))
        torch.save(
            dict(grads=stepped, accumulate=hook.accumulate,
                 weight_decay=[g['weight_decay'] for g in
                               wrapper.optimizer.param_groups]),
            f'{out_dir}/rank{rank}.pt')
    finally:
        dist.destroy_process_group()


def test_two_processes_step_with_the_reference_gradient(tmp_path):
    """Scaled-YOLOv4 on 2 GPUs: each process's loss (x images) x world size,
    DDP averaging, gradients summed over the accumulated iterations. The
    step's gradient must equal, in one process, the gradient of the sum
    over processes and iterations of each process's loss (x images)."""
    for attempt in range(2):
        try:
            context = mp.spawn(ddp_worker, args=(free_port(), str(tmp_path)),
                               nprocs=WORLD_SIZE, join=False)
            deadline = time.monotonic() + 120
            while not context.join(timeout=2):
                if time.monotonic() > deadline:
                    break
            else:
                break
            # A rank hung (seen once, one rank idle with the other gone):
            # stop both and try again on a fresh port.
            for process in context.processes:
                process.kill()
            if attempt:
                pytest.fail('the two gloo processes did not finish in 120 s '
                            'twice (a rank hung)')
        except mp.ProcessRaisedException as error:
            # The port was free when picked; another process may take it.
            if attempt or 'address already in use' not in str(error).lower():
                raise
    head = tiny_head()
    total = 0
    for iteration in range(ACCUMULATE):
        for rank in range(WORLD_SIZE):
            feats, batch, metas = micro_batch(iteration, rank)
            total = total + sum(
                head.loss_by_feat(*head(feats), batch, metas).values())
    expected = torch.autograd.grad(total, list(head.parameters()))
    for rank in range(WORLD_SIZE):
        result = torch.load(tmp_path / f'rank{rank}.pt', weights_only=True)
        assert result['accumulate'] == ACCUMULATE
        assert len(result['grads']) == 1  # one step for 2 iterations
        for got, want in zip(result['grads'][0], expected):
            torch.testing.assert_close(
                got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
        assert result['weight_decay'] == pytest.approx(
            [WEIGHT_DECAY * FACTOR])
