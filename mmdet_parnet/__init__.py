"""mmdet-parnet: ParNet ("Non-deep Networks") as an MMDetection 3.x backbone,
with a YOLOv4-style neck and head.

Importing this package registers every module in mmdet's registries; configs
load it with ``custom_imports = dict(imports=['mmdet_parnet'])``.
"""
# First: lets torch's weights-only loading open mmengine checkpoints.
from . import checkpoint_safety  # noqa: F401
from . import datasets  # noqa: F401
from .bf16_optim_wrapper import CPUBF16OptimWrapper
from .deploy import SwitchToDeployHook, switch_to_deploy
from .mish import Mish
from .parnet import ParNet
from .yolov4_bbox_coder import YOLOv4BBoxCoder
from .yolov4_head import YOLOv4Head, YOLOv4ShapeAssigner
from .yolov4_pafpn import YOLOv4PAFPN

__all__ = [
    'CPUBF16OptimWrapper', 'Mish', 'ParNet', 'SwitchToDeployHook', 'YOLOv4BBoxCoder', 'YOLOv4Head',
    'YOLOv4PAFPN', 'YOLOv4ShapeAssigner', 'switch_to_deploy'
]
