"""mmdet-parnet: ParNet ("Non-deep Networks") as an MMDetection 3.x backbone,
with a YOLOv4-style neck and head.

Importing this package registers every module in mmdet's registries; configs
load it with ``custom_imports = dict(imports=['mmdet_parnet'])``.
"""
# First: lets torch's weights-only loading open mmengine checkpoints, and
# gives every checkpoint load path clear errors for files it cannot open.
from .utils import checkpoint_safety  # noqa: F401,I001
from .utils import checkpoint_errors  # noqa: F401,I001
from .datasets import (CheckedCocoDataset, CheckedCocoMetric,
                       make_shapes_dataset)
from .engine import (CPUBF16OptimWrapper, NominalBatchHook, SwitchToDeployHook,
                     switch_to_deploy)
from .models import (Mish, ParNet, YOLOv4BBoxCoder, YOLOv4Head, YOLOv4PAFPN,
                     YOLOv4ShapeAssigner)

__all__ = [
    'CPUBF16OptimWrapper', 'CheckedCocoDataset', 'CheckedCocoMetric', 'Mish',
    'NominalBatchHook', 'ParNet', 'SwitchToDeployHook', 'YOLOv4BBoxCoder',
    'YOLOv4Head', 'YOLOv4PAFPN', 'YOLOv4ShapeAssigner', 'make_shapes_dataset',
    'switch_to_deploy'
]
