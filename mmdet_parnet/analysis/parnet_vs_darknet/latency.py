"""Part 2: batch-1 latency of the backbone, the detector's tensor forward
and end to end, in eager PyTorch and in each deployment engine."""
import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample

from ...deployment.quantize import BOUNDARY_SCOPES
from ...utils.timing import round_robin
from .common import FORMS, note, progress


def demo_input(size, channels_last: bool):
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    meta = dict(img_shape=tuple(size), ori_shape=tuple(size),
                scale_factor=(1.0, 1.0), batch_input_shape=tuple(size),
                pad_shape=tuple(size))
    return x, [DetDataSample(metainfo=meta)]


class BackboneOutputs(nn.Module):
    """A backbone's taps as a tuple, the graph exported for the backbone
    rows (``output_names`` as :func:`export_onnx` asks)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @property
    def output_names(self):
        return [f'tap{i}' for i in range(len(self.backbone.out_indices))]

    def forward(self, x: torch.Tensor):
        return tuple(self.backbone(x))


def engine_runs(module: nn.Module, size, threads: int, export_dir: Path,
                quick: bool = False, int8: bool = False,
                keep_fp32=BOUNDARY_SCOPES) -> dict:
    """``module`` (deployed, tensor outputs) through every engine of
    :mod:`mmdet_parnet.deployment`: ``{row label: run}``, ``run(float32 NCHW
    array) -> arrays``. Rows: ONNX Runtime fp32, OpenVINO fp32, OpenVINO
    BF16 (when the CPU has it: the engine says what ran) and, with ``int8``,
    both engines' INT8 models, calibrated on random inputs (for speed only:
    the weights are untrained anyway). ``quick`` (--tiny) uses the faster
    TorchScript exporter. An engine that fails leaves a note, not a crash.
    """
    from mmdet_parnet import deployment
    export_dir.mkdir(parents=True, exist_ok=True)
    try:
        onnx_file = deployment.export_onnx(
            module, export_dir / 'model.onnx', tuple(size),
            exporter='torchscript' if quick else 'dynamo')
    except Exception as err:  # noqa: BLE001 (a row lost, not the study)
        note(f'ONNX export failed in {export_dir}: {type(err).__name__}: '
             f'{str(err)[:300]}')
        return {}
    runs = {}
    for name in deployment.BACKENDS:
        if name == 'pytorch':
            continue  # the eager rows are PyTorch
        try:
            model_file = onnx_file
            if name == 'openvino':
                model_file = deployment.onnx_to_openvino(
                    onnx_file, export_dir / 'model.xml')
            runs[f'{name} fp32'] = deployment.build_backend(
                name, str(model_file), 'fp32', threads)
            if name == 'openvino':
                bf16 = deployment.build_backend(name, str(model_file), 'bf16',
                                                threads)
                if 'bf16' in bf16.precision:
                    runs[f'{name} bf16'] = bf16
        except Exception as err:  # noqa: BLE001 (an engine not installed)
            note(f'no {name} rows: {type(err).__name__}: {str(err)[:200]}')
            continue
        if not int8:
            continue
        try:
            quantize, int8_file = {
                'onnxruntime': (deployment.quantize_onnx, 'model_int8.onnx'),
                'openvino': (deployment.quantize_openvino, 'model_int8.xml'),
            }[name]
            generator = np.random.default_rng(0)
            inputs = [generator.random((1, 3, *size), dtype=np.float32)
                      for _ in range(4)]
            int8_file = export_dir / int8_file
            quantize(model_file, int8_file, inputs, keep_fp32)
            runs[f'{name} int8'] = deployment.build_backend(
                name, str(int8_file), 'fp32', threads)
        except Exception as err:  # noqa: BLE001
            note(f'no {name} int8 rows: {type(err).__name__}: '
                 f'{str(err)[:200]}')
    return runs


def backend_forwards(detector: nn.Module, size, threads: int,
                     export_dir: Path, quick: bool = False,
                     int8: bool = False) -> dict:
    """Engine rows of the deployed ``detector``: ``{(runtime label, scope):
    run}`` for the scopes ``'detector'`` (backbone, neck, head; raw head
    maps out) and ``'backbone'`` (the taps), see :func:`engine_runs`."""
    from mmdet_parnet import deployment
    detector = copy.deepcopy(detector)
    parts = {
        'detector': deployment.prepare_for_export(detector),
        'backbone': BackboneOutputs(detector.backbone).eval(),
    }
    # INT8: the first conv stays in float in both; the detector's head
    # output convs too (the exporter's default). The backbone's own last
    # convs (its taps) are quantized, as they are inside the detector.
    keep = dict(detector=BOUNDARY_SCOPES, backbone=('first-conv', ))
    runs = {}
    for scope, module in parts.items():
        for label, run in engine_runs(module, size, threads,
                                      export_dir / scope, quick, int8,
                                      keep[scope]).items():
            runs[(label, scope)] = run
    return runs


def latency_entries(group: str, spec_name: str, forms: dict, size,
                    scopes, backends: dict, e2e_forms) -> dict:
    """``{(group, detector, runtime, scope): zero-argument call}``."""
    entries = {}
    for form, (model, channels_last) in forms.items():
        x, samples = demo_input(size, channels_last)
        if 'backbone' in scopes:
            entries[(group, spec_name, form, 'backbone')] = \
                lambda m=model, x=x: m.backbone(x)
        entries[(group, spec_name, form, 'detector')] = \
            lambda m=model, x=x: m(x, mode='tensor')
        if form in e2e_forms:
            entries[(group, spec_name, form, 'end-to-end')] = \
                lambda m=model, x=x, s=samples: m.predict(x, s)
    head = forms[FORMS[1]][0].bbox_head
    x, samples = demo_input(size, False)
    array = x.numpy()
    metas = [s.metainfo for s in samples]
    for (label, scope), run in backends.items():
        if scope not in scopes:
            continue
        entries[(group, spec_name, label, scope)] = \
            lambda r=run, a=array: r(a)
        if scope == 'detector':
            entries[(group, spec_name, label, 'end-to-end')] = \
                lambda r=run, a=array: head.predict_by_feat(
                    [torch.from_numpy(np.asarray(o)) for o in r(a)], metas,
                    rescale=True)
    return entries


def time_entries(entries: dict, rounds: int, warmup: int, desc: str) -> dict:
    """Seconds of each call in each timed round (:func:`round_robin`), with
    a progress bar."""
    with torch.inference_mode():
        return round_robin(
            entries, rounds, warmup,
            progress=lambda it: progress(it, warmup + rounds, desc))
