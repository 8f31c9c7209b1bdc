"""Mish activation, ``x * tanh(softplus(x))`` (Misra, 2019), for configs.

YOLOv4 and Scaled-YOLOv4 use Mish in the backbone and neck. Configs name it
as ``act_cfg=dict(type='Mish')``; ``ConvModule`` builds activations with
mmcv's ``build_activation_layer``, which looks the type up in mmengine's root
``MODELS`` registry, or in mmdet's child registry (and then its parents)
when mmdet is the default scope.

What the installed stack has (mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0): no
registry holds ``'Mish'``; mmcv registers torch's ReLU, LeakyReLU, PReLU,
RReLU, ReLU6, ELU, Sigmoid, Tanh, SiLU and GELU plus its own Swish, HSwish,
HSigmoid and Clamp in the root registry, mmdet only torch's SiLU in its
own (the same pattern this module follows). So this module registers torch's
``nn.Mish`` (which calls ``F.mish`` and accepts the ``inplace`` argument
``ConvModule`` passes) in both the root registry, so that it builds with no
default scope, and mmdet's, so that it builds in the ``mmdet`` scope. A
registry that already holds a ``'Mish'`` keeps its entry.
"""
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import nn

Mish = nn.Mish

for _registry in (MMENGINE_MODELS, MMDET_MODELS):
    if 'Mish' not in _registry.module_dict:
        _registry.register_module(module=Mish)
