"""Datasets: the checked COCO loader and the synthetic shapes generator."""
from .checked_coco import CheckedCocoDataset
from .shapes import SHAPES_CLASSES, make_shapes_dataset

__all__ = ['CheckedCocoDataset', 'SHAPES_CLASSES', 'make_shapes_dataset']
