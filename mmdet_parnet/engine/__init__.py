"""Training and testing machinery: the deploy switch, CPU bf16 training and
Scaled-YOLOv4's nominal batch."""
from .bf16_optim_wrapper import CPUBF16OptimWrapper
from .nominal_batch import NominalBatchHook, nominal_batch_settings
from .switch_to_deploy import SwitchToDeployHook, switch_to_deploy

__all__ = [
    'CPUBF16OptimWrapper', 'NominalBatchHook', 'SwitchToDeployHook',
    'nominal_batch_settings', 'switch_to_deploy'
]
