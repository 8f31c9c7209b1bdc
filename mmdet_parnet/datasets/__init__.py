"""Datasets: the checked COCO loader with its metric, and the synthetic
shapes generator."""
from .checked_coco import (IMAGE_PROBLEMS, CheckedCocoDataset,
                           CheckedCocoMetric, inspect_image)
from .shapes import SHAPES_CLASSES, make_shapes_dataset

__all__ = [
    'CheckedCocoDataset', 'CheckedCocoMetric', 'IMAGE_PROBLEMS',
    'SHAPES_CLASSES', 'inspect_image', 'make_shapes_dataset'
]
