"""The export workflow the tools share: export a checkpoint for the asked
backends, quantize it to INT8, and check each written model against
PyTorch on a real image."""
import copy
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..utils.complexity import test_input_size
from .backends import PyTorchBackend
from .evaluation import build_test_set, compare_outputs, match_detections
from .export import (RawOutputs, export_onnx, load_detector,
                     onnx_to_openvino, prepare_for_export)
from .quantize import (calibration_images, calibration_inputs,
                       quantize_onnx, quantize_openvino)
from .runtime import DeployedDetector

EXPORT_BACKENDS = ('onnxruntime', 'openvino')


def set_test_size(cfg, size: Optional[Sequence[int]]):
    """Make the config's test pipeline resize (and pad, if it pads) to
    ``size`` = (H, W); returns ``cfg``."""
    if size is None:
        return cfg
    height, width = size
    for step in cfg.test_dataloader.dataset.pipeline:
        kind = step['type'].split('.')[-1]
        if kind == 'Resize':
            step['scale'] = (width, height)
        elif kind == 'Pad' and step.get('size') is not None:
            step['size'] = (width, height)
    return cfg


def export_detector(config,
                    checkpoint: Optional[str],
                    out_dir: str,
                    backends: Sequence[str] = EXPORT_BACKENDS,
                    size: Optional[Sequence[int]] = None,
                    dynamic_batch: bool = False,
                    dynamic_size: bool = False,
                    opset: int = 18,
                    exporter: str = 'dynamo',
                    form: str = 'deployed',
                    fold_bn: bool = True,
                    split_groups: bool = False,
                    cfg_options: Optional[dict] = None
                    ) -> Tuple[Dict[str, Path], RawOutputs, object]:
    """Export ``checkpoint`` of ``config`` as ONNX (always: OpenVINO IR is
    converted from it) and OpenVINO IR.

    Returns ``({backend: model file} for the asked backends, the exported
    PyTorch module, the config)``; the module is the reference the parity
    checks compare with. ``out_dir/model.onnx`` is written in any case.
    """
    unknown = set(backends) - set(EXPORT_BACKENDS)
    if unknown:
        raise ValueError(f'export backends are {EXPORT_BACKENDS}, got '
                         f'{sorted(unknown)}')
    cfg, model = load_detector(config, checkpoint, form, cfg_options)
    if size is None:
        size = test_input_size(cfg)
        size = tuple(-(-s // 32) * 32 for s in size)
    module = prepare_for_export(model, fold_bn=fold_bn,
                                split_groups=split_groups)
    out = Path(out_dir)
    files = {}
    start = time.perf_counter()
    onnx_file = export_onnx(module, out / 'model.onnx', size, dynamic_batch,
                            dynamic_size, opset, exporter)
    shape = 'dynamic HxW (multiples of 32)' if dynamic_size else \
        f'{size[0]}x{size[1]}'
    batch = 'dynamic' if dynamic_batch else '1'
    backbone = cfg.model.backbone.type
    form_note = f'ParNet {form} form, ' if backbone == 'ParNet' else \
        f'{backbone} backbone, '
    print(f'Wrote {onnx_file} (opset {opset}, {exporter} exporter, input '
          f'{shape}, batch {batch}, {form_note}BN folded: '
          f'{fold_bn}, grouped convs split: {split_groups}) in '
          f'{time.perf_counter() - start:.1f} s')
    if 'onnxruntime' in backends:
        files['onnxruntime'] = onnx_file
    if 'openvino' in backends:
        files['openvino'] = onnx_to_openvino(onnx_file, out / 'model.xml')
        print(f'Wrote {files["openvino"]} (OpenVINO IR, fp32 weights)')
    return files, module, cfg


def quantize_detector(cfg,
                      files: Dict[str, Path],
                      out_dir: str,
                      num_images: int = 300,
                      calib_dir: Optional[str] = None,
                      keep_fp32: Sequence[str] = ('first-conv',
                                                  'head-outputs'),
                      ignore_regex: Sequence[str] = (),
                      preset: str = 'performance',
                      bias_correction: str = 'fast',
                      max_drop: Optional[float] = None,
                      val_images: int = 100,
                      ort_calibration: str = 'minmax',
                      ort_activations: str = 'uint8',
                      per_channel: bool = True) -> Dict[str, Path]:
    """INT8 models of the fp32 ``files`` (ONNX Runtime QDQ and / or NNCF),
    calibrated on ``num_images`` training images through the model's own
    pre-processing. Returns ``{'onnxruntime': .onnx, 'openvino': .xml}`` of
    the INT8 models written."""
    out = Path(out_dir)
    backend, model_file = next(iter(files.items()))
    reference = DeployedDetector(model_file, cfg, backend=backend)
    images = calibration_images(cfg, num_images, calib_dir)
    start = time.perf_counter()
    inputs = calibration_inputs(reference, images)
    print(f'  pre-processed in {time.perf_counter() - start:.0f} s; input '
          f'{inputs[0].shape}')
    written = {}
    if 'onnxruntime' in files:
        start = time.perf_counter()
        summary = quantize_onnx(files['onnxruntime'], out / 'model_int8.onnx',
                                inputs, keep_fp32, ignore_regex,
                                ort_calibration, per_channel,
                                ort_activations)
        written['onnxruntime'] = out / 'model_int8.onnx'
        print(f'Wrote {written["onnxruntime"]} (ONNX Runtime static QDQ, '
              f'{ort_calibration} calibration, {ort_activations} '
              f'activations, per-channel weights: {per_channel}; '
              f'{summary["quantize_nodes"]} QuantizeLinear; kept in float: '
              f'{summary["kept_in_float"] or "nothing"}) in '
              f'{time.perf_counter() - start:.0f} s')
    if 'openvino' in files:
        start = time.perf_counter()
        validation = {}
        if max_drop is not None:
            validation = accuracy_control_data(
                DeployedDetector(files['openvino'], cfg, backend='openvino'),
                val_images)
        summary = quantize_openvino(files['openvino'], out / 'model_int8.xml',
                                    inputs, keep_fp32, ignore_regex, preset,
                                    bias_correction, max_drop, **validation)
        written['openvino'] = out / 'model_int8.xml'
        extra = f', accuracy-aware (max mAP drop {max_drop})' \
            if max_drop is not None else ''
        print(f'Wrote {written["openvino"]} (NNCF, preset {preset}, bias '
              f'correction {bias_correction}{extra}; '
              f'{summary["fake_quantize"]} FakeQuantize; kept in float: '
              f'{summary["kept_in_float"] or "nothing"}) in '
              f'{time.perf_counter() - start:.0f} s')
    return written


def accuracy_control_data(detector: DeployedDetector,
                          num_images: int) -> dict:
    """Validation items and function for NNCF's accuracy-aware
    quantization: COCO mAP of the first ``num_images`` of the config's test
    set (``test_dataloader``; point it at a validation split with
    ``--cfg-options`` to keep the test set held out)."""
    dataset, _ = build_test_set(detector.cfg)
    count = min(num_images, len(dataset))
    items = []
    for i in range(count):
        inputs, samples = detector.preprocess([dataset[i]])
        items.append((inputs, samples[0]))

    def validation_fn(compiled_model, data) -> float:
        from mmengine.evaluator import Evaluator
        evaluator = Evaluator(detector.cfg.test_evaluator)
        evaluator.dataset_meta = dataset.metainfo
        img_ids = []
        for inputs, sample in data:
            result = compiled_model(inputs)
            outputs = [result[o] for o in compiled_model.outputs]
            (done, ) = detector.decode(outputs, [copy.deepcopy(sample)])
            img_ids.append(done.img_id)
            evaluator.process(data_samples=[done])
        for metric in evaluator.metrics:
            if hasattr(metric, 'img_ids'):
                metric.img_ids = img_ids
        metrics = evaluator.evaluate(len(img_ids))
        return float(next(v for k, v in metrics.items()
                          if k.endswith('bbox_mAP')))

    return dict(validation_items=items, validation_fn=validation_fn)


def check_models(cfg,
                 module: RawOutputs,
                 models: List[Tuple[str, str, str]],
                 image: str,
                 fp64: bool = False) -> List[dict]:
    """Compare each ``(backend, model file, precision)`` with ``module``
    (PyTorch, fp32) on ``image`` through the same pre-processing: raw
    outputs (max abs and relative to the outputs' largest magnitude) and
    final boxes (share of PyTorch's boxes found again, max coordinate
    difference). Prints a table; returns its rows.

    With ``fp64`` the first row is PyTorch fp32 against PyTorch fp64: the
    drift PyTorch itself has, to judge the engines' by.
    """
    reference = DeployedDetector(None, cfg,
                                 backend=PyTorchBackend(module, label='fp32'))
    packed = reference.load(image)
    cache = {}

    def reference_run(inputs, samples):
        """PyTorch's raw maps and boxes on the same (padded) input."""
        key = inputs.shape
        if key not in cache:
            out = reference.backend(inputs)
            cache[key] = (out, reference.decode(
                out, copy.deepcopy(samples))[0])
        return cache[key]

    rows = []
    if fp64:
        inputs, samples = reference.preprocess([packed])
        ref_out, ref_det = reference_run(inputs, samples)
        double = copy.deepcopy(module).double()
        with torch.no_grad():
            out64 = double(torch.from_numpy(inputs).double())
        rows.append(dict(model='PyTorch fp32 vs PyTorch fp64',
                         backend='pytorch', precision='fp32',
                         **compare_outputs(out64, ref_out), kept=1.0,
                         box_max_abs=0.0, count=len(ref_det.pred_instances)))
    for backend, model_file, precision in models:
        detector = DeployedDetector(model_file, cfg, backend=backend,
                                    precision=precision)
        # the engine's input: padded to a fixed-size model's input size
        inputs, samples = detector.preprocess([copy.deepcopy(packed)])
        ref_out, ref_det = reference_run(inputs, samples)
        out = detector.backend(inputs)
        det = detector.decode(out, copy.deepcopy(samples))[0]
        boxes = match_detections(ref_det.pred_instances, det.pred_instances)
        rows.append(dict(model=str(model_file), backend=backend,
                         precision=detector.precision,
                         **compare_outputs(ref_out, out),
                         kept=boxes['kept'], box_max_abs=boxes['max_abs'],
                         count=boxes['count']))
    print(f'\nParity with PyTorch (fp32, same pre-processed input) on '
          f'{image}, input {tuple(inputs.shape)}:\n')
    print('| model | runs | raw max abs diff | relative to output scale '
          '| boxes found again | max box diff (px) |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        print(f'| {row["model"]} | {row["precision"]} | '
              f'{row["max_abs"]:.2e} | {row["rel"]:.2e} | '
              f'{row["kept"] * 100:.0f}% of {row["count"]} | '
              f'{row["box_max_abs"]:.3f} |')
    return rows


def describe_precisions(model_file: str, cfg, precision: str = 'fp32'):
    """OpenVINO's execution graph: how many layers of each type ran in
    each precision (printed)."""
    detector = DeployedDetector(model_file, cfg, backend='openvino',
                                precision=precision)
    counts = detector.backend.runtime_precisions()
    parts = []
    for layer in ('Convolution', 'GroupConvolution', 'Subgraph', 'Eltwise',
                  'Reduce', 'FullyConnected'):
        if layer in counts:
            parts.append(f'{layer} ' + ', '.join(
                f'{n} {p}' for p, n in sorted(counts[layer].items())))
    print(f'  {model_file} ({detector.precision}): ' + '; '.join(parts))
    return counts
