"""Scaled-YOLOv4's nominal batch on any number of GPUs: gradients accumulated
to 64 images and weight decay scaled with the batch.

Reproduces the optimizer rules of Scaled-YOLOv4 (Wang, Bochkovskiy, Liao,
"Scaled-YOLOv4: Scaling Cross Stage Partial Network", CVPR 2021; code:
github.com/WongKinYiu/ScaledYOLOv4, branch ``yolov4-csp``, ``train.py``,
GPL-3.0). Written from the rules that code documents; no code is copied.
"""
from typing import Tuple

import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.optim import BaseOptimWrapper, OptimWrapper, OptimWrapperDict


def nominal_batch_settings(total_batch_size: int,
                           nominal_batch_size: int = 64
                           ) -> Tuple[int, float]:
    """Scaled-YOLOv4's accumulation count and weight-decay factor.

    ``accumulate = max(round(nominal / total), 1)`` (Python's ``round``,
    halves to even: 128 images give 1) and ``factor = total * accumulate /
    nominal``.

    Args:
        total_batch_size (int): Images per iteration over all processes.
        nominal_batch_size (int): Images per update the recipe is tuned
            for. Defaults to 64.

    Returns:
        tuple[int, float]: ``(accumulate, factor)``.
    """
    accumulate = max(round(nominal_batch_size / total_batch_size), 1)
    return accumulate, total_batch_size * accumulate / nominal_batch_size


def _images_per_iteration(dataloader) -> int:
    """Images one process loads per iteration (``batch_size``, or its batch
    sampler's when the loader has one)."""
    batch_size = getattr(dataloader, 'batch_size', None)
    if batch_size is None:
        batch_size = dataloader.batch_sampler.batch_size
    return batch_size


@HOOKS.register_module()
class NominalBatchHook(Hook):
    """Give the update of Scaled-YOLOv4's ``train.py`` on any number of
    processes and images per process.

    With ``W`` processes of ``B`` images each (read at the start of training
    from ``mmengine.dist.get_world_size()`` and the training dataloader),
    ``total = W * B`` and ``nominal = nominal_batch_size``:

    - gradients of ``accumulate = max(round(nominal / total), 1)``
      iterations are **summed** before each optimizer step (mmengine's
      ``accumulative_counts``, set here; mmengine averages the accumulated
      iterations, so their gradient is multiplied back by the count just
      before the step). With :class:`~mmdet_parnet.models.YOLOv4Head`'s
      loss (x images x ``W``) the gradient of a step is then
      ``sum over the accumulated iterations and processes of
      B * grad(mean loss of that process's images)``, as in the reference;
    - every parameter group's ``weight_decay`` is multiplied by
      ``total * accumulate / nominal`` (groups without decay stay at 0).
      The configured value is kept in the group as
      ``'nominal_batch_weight_decay'``, so a resumed run (even on another
      number of GPUs) scales the configured value, not a scaled one.

    The learning rate needs no scaling: the loss already grows with the
    images of an update. Leave ``auto_scale_lr`` disabled (``enable=False``;
    ``base_batch_size=64`` records the nominal batch); this hook refuses to
    train with it enabled (``--auto-scale-lr``), which would scale twice.

    On 8 GPUs x 16 images (the COCO recipe): ``accumulate = 1`` and weight
    decay x 2 (5e-4 becomes 1e-3, as in the reference). On 1 GPU x 16:
    4 iterations per step, weight decay x 1.

    Not reproduced: the reference raises ``accumulate`` from 1 during its
    warm-up (``max(3 epochs, 1000 iterations)``); here it is constant (no
    difference at 64 images or more per iteration, e.g. 8 x 16). Its EMA
    is updated once per optimizer step; mmengine's ``EMAHook`` updates once
    per iteration, i.e. ``accumulate`` times per step. A last incomplete
    accumulation at the end of training is still applied (mmengine), the
    reference drops it. ``clip_grad`` (not used by the recipe) would see
    the averaged gradient.

    Use it only with an SGD recipe tuned for the nominal batch; optimizers
    invariant to the loss scale (Adam, AdamW) do not need it. Add
    ``custom_hooks = [dict(type='NominalBatchHook')]`` and leave
    ``accumulative_counts`` out of ``optim_wrapper``.

    Args:
        nominal_batch_size (int): Images per update the recipe is tuned
            for. Defaults to 64 (Scaled-YOLOv4's ``nbs``).
    """

    #: Param-group key that keeps the configured weight decay.
    BASE_KEY = 'nominal_batch_weight_decay'

    def __init__(self, nominal_batch_size: int = 64) -> None:
        if not isinstance(nominal_batch_size, int) or nominal_batch_size < 1:
            raise ValueError(f'NominalBatchHook nominal_batch_size must be a '
                             f'positive int (Scaled-YOLOv4 uses 64), got '
                             f'{nominal_batch_size!r}.')
        self.nominal_batch_size = nominal_batch_size
        self.accumulate = 1
        self.weight_decay_factor = 1.0
        self._divisor = 1
        self._handle = None

    def before_run(self, runner) -> None:
        """Set the accumulation count before mmengine counts iterations."""
        optim_wrapper = runner.optim_wrapper
        if not isinstance(optim_wrapper, BaseOptimWrapper):
            return  # a test or validation run: nothing to optimize
        if isinstance(optim_wrapper, OptimWrapperDict) or not isinstance(
                optim_wrapper, OptimWrapper):
            raise ValueError(f'NominalBatchHook needs a single OptimWrapper '
                             f'(or a subclass such as AmpOptimWrapper), got '
                             f'{type(optim_wrapper).__name__}: remove the '
                             f'hook from custom_hooks.')
        auto_scale_lr = runner.auto_scale_lr or {}
        if auto_scale_lr.get('enable', False):
            raise ValueError(
                'NominalBatchHook: the YOLOv4Head loss grows with the images '
                'of an update, so the learning rate must not be scaled as '
                'well: set auto_scale_lr.enable=False (do not pass '
                '--auto-scale-lr).')
        if optim_wrapper._accumulative_counts != 1:
            raise ValueError(
                f'NominalBatchHook sets the accumulation itself: remove '
                f'accumulative_counts='
                f'{optim_wrapper._accumulative_counts} from optim_wrapper.')
        images = _images_per_iteration(runner.train_dataloader)
        world_size = get_world_size()
        self.accumulate, self.weight_decay_factor = nominal_batch_settings(
            world_size * images, self.nominal_batch_size)
        # mmengine has no setter; initialize_count_status (after before_run)
        # derives the rest of its counting from this.
        optim_wrapper._accumulative_counts = self.accumulate
        if self.accumulate > 1:
            self._handle = optim_wrapper.optimizer.register_step_pre_hook(
                self._sum_accumulated)
        runner.logger.info(
            f'NominalBatchHook: {world_size} process(es) x {images} images; '
            f'{self.accumulate} iteration(s) per update (nominal batch '
            f'{self.nominal_batch_size}), weight decay x '
            f'{self.weight_decay_factor:g}.')

    def before_train(self, runner) -> None:
        """Scale the weight decay, after a resume has loaded its groups."""
        if not isinstance(runner.optim_wrapper, OptimWrapper):
            return
        for group in runner.optim_wrapper.optimizer.param_groups:
            base = group.setdefault(self.BASE_KEY,
                                    group.get('weight_decay', 0))
            group['weight_decay'] = base * self.weight_decay_factor

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Note what mmengine divides this iteration's loss by."""
        if self.accumulate > 1:
            scaled = runner.optim_wrapper.scale_loss(
                torch.ones((), dtype=torch.float64))
            self._divisor = round(1 / float(scaled))

    def _sum_accumulated(self, optimizer, args, kwargs) -> None:
        """Turn mmengine's mean of the accumulated gradients into their
        sum, just before the step."""
        with torch.no_grad():
            for group in optimizer.param_groups:
                for param in group['params']:
                    if param.grad is not None:
                        param.grad.mul_(self._divisor)

    def after_run(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
