"""The inference engines behind :class:`~.runtime.DeployedDetector`: ONNX
Runtime, OpenVINO and PyTorch, each a callable from one preprocessed batch
(``float32``, NCHW numpy array) to the raw head maps (numpy arrays, one per
level, ascending stride).

The engines are imported only when a backend is built, so ``import
mmdet_parnet`` works and stays fast without them; a missing one raises an
``ImportError`` that gives the pip command (:func:`require`).
"""
import importlib
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

#: The pinned version of each engine (requirements.txt), for the pip hint.
ENGINE_PINS = {
    'onnx': 'onnx==1.23.2',
    'onnxscript': 'onnxscript==0.7.2',
    'onnxruntime': 'onnxruntime==1.31.1',
    'openvino': 'openvino==2026.4.1',
    'nncf': 'nncf==3.4.0',
}
BACKENDS = ('onnxruntime', 'openvino', 'pytorch')
#: Float precisions a backend can be asked for. INT8 is not among them: it
#: is a property of the model file (QDQ / FakeQuantize nodes written by
#: ``tools/deployment/export_model.py --int8``); the float precision then
#: applies to the layers left unquantized.
PRECISIONS = ('fp32', 'bf16')


def require(module: str, purpose: str = ''):
    """Import ``module`` (an engine), or raise an ``ImportError`` that says
    what needs it and the pip command that installs the pinned version."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split('.')[0]
        pin = ENGINE_PINS.get(package, package)
        needed = f' (needed {purpose})' if purpose else ''
        raise ImportError(
            f'{package} is not installed{needed}: '
            f'pip install {pin}  (or `make env`, which installs every pinned '
            f'deployment package of requirements.txt). Import error: {err}'
        ) from err


class Backend:
    """One engine running one model file.

    Attributes:
        input_shape (tuple): ``(N, C, H, W)`` with ``None`` for a dynamic
            dimension.
        output_channels (list[int | None]): Channels of each output.
        precision (str): What actually runs, in words (e.g. ``'int8 + f32'``).
    """
    name = ''
    input_shape: Tuple[Optional[int], ...] = (None, 3, None, None)
    output_channels: List[Optional[int]] = []
    precision = 'fp32'

    def __call__(self, inputs: np.ndarray) -> List[np.ndarray]:
        raise NotImplementedError


def _not_a_model(path, kind: str, err: Exception) -> ValueError:
    return ValueError(
        f'{path} is not a readable {kind} model ({type(err).__name__}: '
        f'{str(err).strip()[:300]}). Give the file written by '
        f'tools/deployment/export_model.py (.onnx for onnxruntime, .xml for '
        f'openvino), or export it again.')


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime's CPU execution provider on an ``.onnx`` file."""
    name = 'onnxruntime'

    def __init__(self, model_file: str, precision: str = 'fp32',
                 threads: Optional[int] = None) -> None:
        ort = require('onnxruntime', 'for backend onnxruntime')
        if precision != 'fp32':
            raise ValueError(
                f'ONNX Runtime runs {model_file} in fp32 only on CPU (asked '
                f'for {precision}); use backend openvino for bf16, or export '
                f'an INT8 model with tools/deployment/export_model.py --int8.')
        path = Path(model_file)
        if path.suffix.lower() != '.onnx':
            raise ValueError(f'backend onnxruntime runs .onnx files, got '
                             f'{model_file}: give the .onnx written by '
                             f'tools/deployment/export_model.py.')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = \
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=['CPUExecutionProvider'])
        except Exception as err:  # noqa: BLE001 (ORT raises its own types)
            if not path.is_file():
                raise FileNotFoundError(
                    f'{model_file} does not exist: export it with '
                    f'tools/deployment/export_model.py') from err
            raise _not_a_model(model_file, 'ONNX', err) from err
        (inp, ) = self.session.get_inputs()
        self.input_name = inp.name
        self.input_shape = tuple(d if isinstance(d, int) else None
                                 for d in inp.shape)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.output_channels = [
            o.shape[1] if isinstance(o.shape[1], int) else None
            for o in self.session.get_outputs()
        ]
        ops = Counter(n.op_type for n in _onnx_nodes(path))
        quantized = ops.get('QuantizeLinear', 0) + ops.get(
            'QLinearConv', 0) + ops.get('ConvInteger', 0)
        self.precision = 'int8 (QDQ) + fp32' if quantized else 'fp32'

    def __call__(self, inputs: np.ndarray) -> List[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: inputs})


def _onnx_nodes(path: Path):
    """The nodes of an ONNX file, without its weights (empty if ``onnx`` is
    not installed)."""
    try:
        import onnx
    except ImportError:
        return []
    return onnx.load(str(path), load_external_data=False).graph.node


#: OpenVINO's names of our precisions.
OV_PRECISION = {'fp32': 'f32', 'bf16': 'bf16'}


class OpenVINOBackend(Backend):
    """OpenVINO's CPU plugin on an IR (``.xml`` + ``.bin``) or ``.onnx``.

    The float precision is always set explicitly
    (``INFERENCE_PRECISION_HINT``): left alone, OpenVINO runs bf16 on CPUs
    with AVX512-BF16 or AMX. :attr:`precision` reports what the compiled
    model took (the hint falls back to f32 on CPUs without bf16).
    """
    name = 'openvino'

    def __init__(self, model_file: str, precision: str = 'fp32',
                 threads: Optional[int] = None) -> None:
        ov = require('openvino', 'for backend openvino')
        if precision not in OV_PRECISION:
            raise ValueError(f'OpenVINO precision must be one of '
                             f'{list(OV_PRECISION)}, got {precision!r} '
                             f'(INT8 comes from an INT8 model file).')
        path = Path(model_file)
        if not path.is_file():
            raise FileNotFoundError(f'{model_file} does not exist: export it '
                                    f'with tools/deployment/export_model.py')
        if path.suffix.lower() not in ('.xml', '.onnx'):
            raise ValueError(f'backend openvino runs an IR (.xml next to its '
                             f'.bin) or an .onnx file, got {model_file}.')
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as err:  # noqa: BLE001
            raise _not_a_model(model_file, 'OpenVINO', err) from err
        config = {
            'INFERENCE_PRECISION_HINT': OV_PRECISION[precision],
            'PERFORMANCE_HINT': 'LATENCY',
        }
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        self.compiled = self.core.compile_model(self.model, 'CPU', config)
        self.request = self.compiled.create_infer_request()
        inp = self.model.input()
        self.input_shape = tuple(
            d.get_length() if d.is_static else None
            for d in inp.get_partial_shape())
        self.output_channels = [
            o.get_partial_shape()[1].get_length()
            if o.get_partial_shape()[1].is_static else None
            for o in self.model.outputs
        ]
        ran = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        ran = ran.to_string() if hasattr(ran, 'to_string') else str(ran)
        quantized = any(op.get_type_name() == 'FakeQuantize'
                        for op in self.model.get_ops())
        self.float_precision = ran
        self.precision = f'int8 (FakeQuantize) + {ran}' if quantized else ran

    def runtime_precisions(self) -> Dict[str, Counter]:
        """How many layers of each type run in each precision (``u8``,
        ``i8``, ``bf16``, ``f32``), from the compiled model's execution
        graph (``runtimePrecision``); constants left out."""
        counts: Dict[str, Counter] = {}
        for op in self.compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            layer = info['layerType'].astype(str) if 'layerType' in info \
                else op.get_type_name()
            if layer in ('Const', 'Input', 'Output'):
                continue
            prec = info['runtimePrecision'].astype(str) \
                if 'runtimePrecision' in info else '?'
            counts.setdefault(layer, Counter())[prec] += 1
        return counts

    def __call__(self, inputs: np.ndarray) -> List[np.ndarray]:
        self.request.infer({0: inputs})
        return [
            self.request.get_output_tensor(i).data.copy()
            for i in range(len(self.compiled.outputs))
        ]


class PyTorchBackend(Backend):
    """A PyTorch module from an image batch to the raw maps (see
    :class:`~.export.RawOutputs`), run under ``inference_mode``; with
    ``channels_last`` the module and its input are in channels-last memory
    format."""
    name = 'pytorch'

    def __init__(self, module: torch.nn.Module, channels_last: bool = False,
                 precision: str = 'fp32', label: str = 'fp32') -> None:
        if precision not in PRECISIONS:
            raise ValueError(f'PyTorch precision must be one of {PRECISIONS}'
                             f', got {precision!r}')
        self.module = module.eval()
        self.channels_last = channels_last
        if channels_last:
            self.module.to(memory_format=torch.channels_last)
        self.dtype = torch.bfloat16 if precision == 'bf16' else None
        self.precision = label if precision == 'fp32' else 'bf16 (autocast)'
        head = getattr(getattr(module, 'detector', None), 'bbox_head', None)
        self.output_channels = [None] * len(
            getattr(head, 'featmap_strides', ()))

    def __call__(self, inputs: np.ndarray) -> List[np.ndarray]:
        x = torch.from_numpy(inputs)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(
                'cpu', dtype=torch.bfloat16, enabled=self.dtype is not None):
            outputs = self.module(x)
        return [o.float().contiguous().numpy() for o in outputs]


def build_backend(backend: str, model_file: str, precision: str = 'fp32',
                  threads: Optional[int] = None) -> Backend:
    """An ONNX Runtime or OpenVINO backend on ``model_file``."""
    if backend == 'onnxruntime':
        return OnnxRuntimeBackend(model_file, precision, threads)
    if backend == 'openvino':
        return OpenVINOBackend(model_file, precision, threads)
    raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')


def output_channels_check(backend: Backend, expected: Sequence[int],
                          model_file: str, config: str) -> None:
    """Raise if the model's outputs do not fit the config's head (a model
    exported from another config)."""
    got = list(backend.output_channels)
    if len(got) != len(expected) or any(
            g is not None and g != e for g, e in zip(got, expected)):
        raise ValueError(
            f'{model_file} has outputs of {got} channels but the head of '
            f'{config} gives {list(expected)} (levels x anchors x (5 + '
            f'classes)): the model was exported from another config. Give '
            f'the config it was exported from, or export it again from '
            f'{config}.')
