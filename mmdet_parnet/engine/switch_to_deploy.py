"""Switching re-parameterisable modules (ParNet) to their deployed form."""
import torch.nn as nn
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


def switch_to_deploy(model: nn.Module) -> bool:
    """Put ``model`` in eval mode and call ``switch_to_deploy()`` on each of
    its modules that has one (the ParNet backbone of a detector, say).

    Returns:
        bool: Whether any module was switched.
    """
    model.eval()
    switchable = [
        m for m in model.modules()
        if callable(getattr(m, 'switch_to_deploy', None))
    ]
    for module in switchable:
        module.switch_to_deploy()
    return bool(switchable)


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Switch the model to its deployed form before testing.

    Checkpoints stay in training form; only ``runner.test()`` runs the fused
    network. Add ``custom_hooks = [dict(type='SwitchToDeployHook')]``.
    """

    def before_test(self, runner) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        switch_to_deploy(model)
