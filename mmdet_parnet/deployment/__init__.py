"""Deployment on CPUs: ONNX / OpenVINO IR export of the tensor forward, a
runtime over ONNX Runtime, OpenVINO and PyTorch with the model's own pre-
and post-processing, INT8 post-training quantization (ONNX Runtime QDQ,
NNCF) and COCO evaluation of a deployed model.

Not imported by ``import mmdet_parnet``; the engines (onnx, onnxruntime,
openvino, nncf) are imported only when used, with the pip command in the
error when one is missing. See docs/deployment.md.
"""
from .backends import (BACKENDS, ENGINE_PINS, PRECISIONS, OnnxRuntimeBackend,
                       OpenVINOBackend, PyTorchBackend, build_backend, require)
from .evaluation import compare_outputs, evaluate, match_detections
from .export import (load_config, load_detector, onnx_to_openvino,
                     export_onnx, prepare_for_export, read_checkpoint,
                     RawOutputs)
from .inference import run_deployed_inference
from .quantize import (calibration_images, calibration_inputs,
                       quantize_onnx, quantize_openvino)
from .runtime import DeployedDetector
from .transforms import SplitGroupedConv, fold_conv_bn, split_grouped_convs

__all__ = [
    'BACKENDS', 'DeployedDetector', 'ENGINE_PINS', 'OnnxRuntimeBackend',
    'OpenVINOBackend', 'PRECISIONS', 'PyTorchBackend', 'RawOutputs',
    'SplitGroupedConv', 'build_backend',
    'calibration_images', 'calibration_inputs', 'compare_outputs',
    'evaluate', 'export_onnx', 'fold_conv_bn', 'load_config',
    'load_detector', 'match_detections', 'onnx_to_openvino',
    'prepare_for_export', 'quantize_onnx', 'quantize_openvino',
    'read_checkpoint', 'require', 'run_deployed_inference',
    'split_grouped_convs'
]
