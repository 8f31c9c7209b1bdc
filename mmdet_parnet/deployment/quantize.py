"""INT8 post-training static quantization: NNCF for OpenVINO, ONNX
Runtime's QDQ quantizer for ONNX Runtime, calibrated on training images
through the model's own pre-processing.

RepVGG-style re-parameterised convs quantize badly: the fused 3x3 kernel
sums a 3x3, a 1x1 and (in RepVGG) an identity branch whose weight
distributions differ by orders of magnitude, so one per-channel scale fits
none of them well, and the activations they produce have long tails. The
known remedies are options here, to be measured one by one:

* ``keep_fp32``: leave the first conv (3 input channels, where the image
  quantization error enters) and the head's output convs (whose raw
  outputs feed exp / sigmoid decoding) in float (``'first-conv'``,
  ``'head-outputs'``), plus any node by regular expression;
* NNCF's ``preset='mixed'`` (asymmetric activations: the SiLU / Mish
  outputs are far from symmetric), bias correction ``'full'`` or
  ``'none'``, and accuracy-aware quantization (``max_drop``: NNCF reverts
  the layers that cost most mAP, judged on the config's validation set);
* quantizing before re-parameterisation: export with ``form='training'``
  (each branch its own conv, BN folded by the engine) and quantize that;
* groups=2 convs as plain convs (``split_groups`` at export), which the
  engines run in INT8 where they kept the grouped ones in fp32.
"""
import logging
import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np
from mmdet.registry import DATASETS

from .backends import require

BOUNDARY_SCOPES = ('first-conv', 'head-outputs')
PRESETS = ('performance', 'mixed')
BIAS_CORRECTIONS = ('fast', 'full', 'none')
ORT_CALIBRATIONS = ('minmax', 'entropy', 'percentile')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


# -- calibration data ---------------------------------------------------------


def _unwrap_dataset_cfg(ds_cfg):
    """The image dataset inside wrappers (MultiImageMixDataset, repeat,
    class-balanced, concat: the first)."""
    while True:
        if 'dataset' in ds_cfg:
            ds_cfg = ds_cfg['dataset']
        elif 'datasets' in ds_cfg:
            ds_cfg = ds_cfg['datasets'][0]
        else:
            return ds_cfg


def calibration_images(cfg, num: int = 300, folder: Optional[str] = None,
                       seed: int = 0) -> List[str]:
    """``num`` image files for calibration: from ``folder`` if given, else
    from the config's training set (``train_dataloader.dataset``, its
    wrappers removed), a seeded random sample of them."""
    if num < 1:
        raise ValueError(f'the number of calibration images must be at least '
                         f'1, got {num}')
    if folder is not None:
        path = Path(folder)
        if not path.is_dir():
            raise FileNotFoundError(f'calibration folder {folder} does not '
                                    f'exist')
        images = sorted(str(p) for p in path.rglob('*')
                        if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(
                f'calibration folder {folder} holds no images '
                f'({", ".join(IMAGE_SUFFIXES)}): give a folder of training '
                f'images, or leave --calib-dir out to use the config\'s '
                f'training set')
        where = f'calibration folder {folder}'
    else:
        ds_cfg = dict(_unwrap_dataset_cfg(cfg.train_dataloader.dataset))
        ds_cfg['pipeline'] = []
        try:
            dataset = DATASETS.build(ds_cfg)
            dataset.full_init()
            images = [
                dataset.get_data_info(i)['img_path']
                for i in range(len(dataset))
            ]
        except (FileNotFoundError, OSError) as err:
            raise FileNotFoundError(
                f'the training set of the config cannot be read for '
                f'calibration ({err}): make the data set (for the shapes '
                f'demo: `make demo` or tools/dataset_converters/'
                f'make_shapes_dataset.py), or give --calib-dir FOLDER') \
                from err
        if not images:
            raise FileNotFoundError('the training set of the config has no '
                                    'images: give --calib-dir FOLDER')
        where = 'the training set'
    if len(images) > num:
        picks = np.random.default_rng(seed).choice(len(images), num,
                                                   replace=False)
        images = [images[i] for i in sorted(picks)]
    print(f'Calibration: {len(images)} images of {where}')
    return images


def calibration_inputs(detector, images: Sequence[str]) -> List[np.ndarray]:
    """The backend inputs of ``images`` through ``detector``'s (a
    :class:`~.runtime.DeployedDetector`) pre-processing."""
    return [detector.prepare_inputs(image) for image in images]


# -- which nodes stay in float ------------------------------------------------


def _boundary_convs_onnx(graph) -> dict:
    """Names of the Conv nodes first reached from the input, and last
    before an output, of an ONNX graph (through non-Conv nodes)."""
    consumers, producer = {}, {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node

    def walk(starts, forward):
        found, seen, stack = [], set(), list(starts)
        while stack:
            tensor = stack.pop()
            nodes = consumers.get(tensor, []) if forward else [
                producer[tensor]
            ] if tensor in producer else []
            for node in nodes:
                if id(node) in seen:
                    continue
                seen.add(id(node))
                if node.op_type == 'Conv':
                    found.append(node.name)
                else:
                    stack += list(node.output if forward else node.input)
        return found

    return {
        'first-conv': walk([i.name for i in graph.input], True),
        'head-outputs': walk([o.name for o in graph.output], False),
    }


def _boundary_convs_openvino(model) -> dict:
    """As :func:`_boundary_convs_onnx`, for an OpenVINO model (friendly
    names of Convolution / GroupConvolution ops)."""
    conv_types = ('Convolution', 'GroupConvolution')

    def walk(starts, forward):
        found, seen, stack = [], set(), list(starts)
        while stack:
            op = stack.pop()
            if forward:
                nexts = [t.get_node() for out in op.outputs()
                         for t in out.get_target_inputs()]
            else:
                nexts = [v.get_node() for v in op.input_values()]
            for node in nexts:
                name = node.get_friendly_name()
                if name in seen:
                    continue
                seen.add(name)
                if node.get_type_name() in conv_types:
                    found.append(name)
                else:
                    stack.append(node)
        return found

    return {
        'first-conv': walk(list(model.get_parameters()), True),
        'head-outputs': walk(list(model.get_results()), False),
    }


def _ignored_names(all_names: Iterable[str], boundary: dict,
                   keep_fp32: Sequence[str],
                   ignore_regex: Sequence[str]) -> List[str]:
    names = []
    for scope in keep_fp32:
        if scope not in BOUNDARY_SCOPES:
            raise ValueError(f'keep_fp32 scopes are {BOUNDARY_SCOPES}, got '
                             f'{scope!r}')
        names += boundary[scope]
    all_names = list(all_names)
    for pattern in ignore_regex:
        matched = [n for n in all_names if re.search(pattern, n)]
        if not matched:
            raise ValueError(f'--ignore-regex {pattern!r} matches no node of '
                             f'the model; node names look like '
                             f'{all_names[:5]}')
        names += matched
    return sorted(set(names))


# -- ONNX Runtime -------------------------------------------------------------


def quantize_onnx(fp32_file: Union[str, Path],
                  out_file: Union[str, Path],
                  inputs: Sequence[np.ndarray],
                  keep_fp32: Sequence[str] = BOUNDARY_SCOPES,
                  ignore_regex: Sequence[str] = (),
                  calibration: str = 'minmax',
                  per_channel: bool = True,
                  activations: str = 'uint8',
                  op_types: Optional[Sequence[str]] = None,
                  extra_options: Optional[dict] = None) -> dict:
    """ONNX Runtime static quantization, QDQ format: weights int8 (per
    channel), activations ``activations`` (uint8: ORT's choice for x86 with
    VNNI), ranges by ``calibration`` on ``inputs``.

    Returns a summary: the nodes kept in float and the node counts.
    """
    onnx = require('onnx', 'to quantize ONNX models')
    quantization = require('onnxruntime.quantization',
                           'to quantize for ONNX Runtime')
    if calibration not in ORT_CALIBRATIONS:
        raise ValueError(f'calibration must be one of {ORT_CALIBRATIONS}, '
                         f'got {calibration!r}')
    if not inputs:
        raise ValueError('no calibration inputs')
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # ORT's recommended pre-processing: shape inference and graph
    # optimisation (BN folding, constant folding) before quantization.
    prepared = out_file.with_name(out_file.stem + '_prep.onnx')
    from onnxruntime.quantization.shape_inference import quant_pre_process
    try:
        quant_pre_process(str(fp32_file), str(prepared),
                          skip_symbolic_shape=True)
    except Exception as err:  # noqa: BLE001
        print(f'ONNX Runtime pre-processing failed ({err}); quantizing the '
              f'model as exported')
        prepared = Path(fp32_file)
    model = onnx.load(str(prepared))
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f'{node.op_type}_{i}'
    onnx.save(model, str(prepared))
    excluded = _ignored_names((n.name for n in model.graph.node),
                              _boundary_convs_onnx(model.graph), keep_fp32,
                              ignore_regex)
    input_name = model.graph.input[0].name

    class Reader(quantization.CalibrationDataReader):

        def __init__(self):
            self.items = iter(inputs)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {input_name: item}

        def rewind(self):
            self.items = iter(inputs)

    qtype = {'uint8': quantization.QuantType.QUInt8,
             'int8': quantization.QuantType.QInt8}[activations]
    method = {
        'minmax': quantization.CalibrationMethod.MinMax,
        'entropy': quantization.CalibrationMethod.Entropy,
        'percentile': quantization.CalibrationMethod.Percentile,
    }[calibration]
    quantization.quantize_static(
        str(prepared), str(out_file), Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=qtype,
        weight_type=quantization.QuantType.QInt8,
        calibrate_method=method,
        nodes_to_exclude=excluded,
        op_types_to_quantize=list(op_types) if op_types else None,
        extra_options=dict(ActivationSymmetric=activations == 'int8',
                           **(extra_options or {})))
    if prepared != Path(fp32_file):
        prepared.unlink(missing_ok=True)
    quantized = onnx.load(str(out_file), load_external_data=False)
    ops = [n.op_type for n in quantized.graph.node]
    return dict(kept_in_float=excluded,
                quantize_nodes=ops.count('QuantizeLinear'),
                convs=ops.count('Conv'))


# -- OpenVINO / NNCF ----------------------------------------------------------


def quantize_openvino(fp32_file: Union[str, Path],
                      out_file: Union[str, Path],
                      inputs: Sequence[np.ndarray],
                      keep_fp32: Sequence[str] = BOUNDARY_SCOPES,
                      ignore_regex: Sequence[str] = (),
                      preset: str = 'performance',
                      bias_correction: str = 'fast',
                      max_drop: Optional[float] = None,
                      validation_items: Optional[Sequence] = None,
                      validation_fn=None) -> dict:
    """NNCF post-training quantization of an OpenVINO model (``.xml`` or
    ``.onnx``), written as IR.

    Args:
        preset: ``'performance'`` (symmetric activations) or ``'mixed'``
            (asymmetric activations).
        bias_correction: ``'fast'`` (NNCF's default), ``'full'`` (the slower,
            usually more accurate one) or ``'none'``.
        max_drop: With ``validation_items`` and ``validation_fn``: NNCF's
            accuracy-aware quantization, which returns layers to float until
            the metric drops by at most ``max_drop`` (absolute).
        validation_items: Items ``(input array, data sample)`` for
            ``validation_fn(compiled_model, items) -> metric``.

    Returns a summary: the nodes kept in float and the FakeQuantize count.
    """
    ov = require('openvino', 'to quantize for OpenVINO')
    nncf = require('nncf', 'to quantize for OpenVINO')
    if preset not in PRESETS:
        raise ValueError(f'preset must be one of {PRESETS}, got {preset!r}')
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(f'bias_correction must be one of '
                         f'{BIAS_CORRECTIONS}, got {bias_correction!r}')
    if not inputs:
        raise ValueError('no calibration inputs')
    nncf.set_log_level(logging.WARNING)
    model = ov.Core().read_model(str(fp32_file))
    names = _ignored_names((op.get_friendly_name()
                            for op in model.get_ops()),
                           _boundary_convs_openvino(model), keep_fp32,
                           ignore_regex)
    kwargs = dict(
        preset=getattr(nncf.QuantizationPreset, preset.upper()),
        subset_size=len(inputs),
        fast_bias_correction=bias_correction != 'full',
        ignored_scope=nncf.IgnoredScope(names=names) if names else None)
    advanced = nncf.AdvancedQuantizationParameters(
        disable_bias_correction=bias_correction == 'none')
    calibration = nncf.Dataset(list(inputs))
    if max_drop is not None:
        if not validation_items or validation_fn is None:
            raise ValueError('accuracy-aware quantization needs validation '
                             'items and a validation function')
        validation = nncf.Dataset(list(validation_items),
                                  lambda item: item[0])
        quantized = nncf.quantize_with_accuracy_control(
            model, calibration, validation, validation_fn,
            max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
            advanced_quantization_parameters=advanced, **kwargs)
    else:
        quantized = nncf.quantize(model, calibration,
                                  advanced_parameters=advanced, **kwargs)
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_file), compress_to_fp16=False)
    fake_quantize = sum(op.get_type_name() == 'FakeQuantize'
                        for op in quantized.get_ops())
    return dict(kept_in_float=names, fake_quantize=fake_quantize)
