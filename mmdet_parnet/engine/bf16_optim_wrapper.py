"""Mixed-precision training on the CPU with bfloat16 autocast."""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward passes run under
    ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    mmengine's ``AmpOptimWrapper`` refuses to run without a GPU. On CPUs with
    bfloat16 instructions (AVX512-BF16, AMX) oneDNN convolutions run faster in
    bfloat16. Weights, gradients and optimizer state stay float32, and since
    bfloat16 has float32's exponent range no loss scaling is needed. Use it
    as ``optim_wrapper = dict(type='CPUBF16OptimWrapper', optimizer=...)``.
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield
