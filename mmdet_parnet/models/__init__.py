"""Models: the ParNet backbone, the YOLOv4 neck and head, and their parts."""
from .losses import bbox_ciou
from .mish import Mish
from .parnet import ParNet
from .score_selection import topk_scores
from .yolov4_assigner import YOLOv4ShapeAssigner
from .yolov4_bbox_coder import YOLOv4BBoxCoder
from .yolov4_head import YOLOV4_ANCHORS, YOLOv4Head
from .yolov4_pafpn import YOLOv4PAFPN

__all__ = [
    'Mish', 'ParNet', 'YOLOV4_ANCHORS', 'YOLOv4BBoxCoder', 'YOLOv4Head',
    'YOLOv4PAFPN', 'YOLOv4ShapeAssigner', 'bbox_ciou', 'topk_scores'
]
