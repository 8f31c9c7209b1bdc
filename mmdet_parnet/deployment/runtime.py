"""One detector over ONNX Runtime, OpenVINO or PyTorch, with the model's own
pre- and post-processing.

Pre-processing is mmdet's: the config's test pipeline (``Resize`` with its
``keep_ratio``, ``Pad`` if any, ``PackDetInputs``) built as mmdet builds it,
then the config's ``DetDataPreprocessor`` (mean / std, ``bgr_to_rgb``,
``pad_size_divisor``). Post-processing is the head's: a head built from the
config decodes the raw maps and runs NMS (``predict_by_feat``). Boxes
come back in original image coordinates, in mmdet ``DetDataSample``\\ s.
"""
import copy
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config

from .backends import (BACKENDS, Backend, PyTorchBackend, build_backend,
                       output_channels_check)
from .export import load_config, load_detector, prepare_for_export

ImageInput = Union[str, Path, np.ndarray]


def build_head(cfg: Config):
    """The config's bbox head, with its ``test_cfg``, for decoding (its
    layers are unused: the raw maps come from the backend)."""
    head_cfg = copy.deepcopy(cfg.model.bbox_head)
    head_cfg.update(train_cfg=None, test_cfg=cfg.model.get('test_cfg'))
    return MODELS.build(head_cfg).eval()


def test_pipeline_cfg(cfg: Config, from_array: bool = False) -> list:
    """The config's test pipeline without annotation loading; from an
    in-memory (BGR, HWC) image if ``from_array``."""
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    steps = []
    for step in pipeline:
        kind = step['type'].split('.')[-1]
        if kind == 'LoadAnnotations':
            continue
        if from_array and kind == 'LoadImageFromFile':
            step = dict(type='mmdet.LoadImageFromNDArray')
        steps.append(step)
    return steps


class DeployedDetector:
    """A detector run by a deployment backend.

    Args:
        model_file (str | None): The exported model (``.onnx`` for
            onnxruntime, ``.xml`` or ``.onnx`` for openvino) or, for
            pytorch, a checkpoint (training or deployed form; ``None``:
            random weights).
        config (str | Config): The config the model was exported from.
        backend (str | Backend): ``'onnxruntime'``, ``'openvino'``,
            ``'pytorch'``, or a built :class:`~.backends.Backend`.
        precision (str): ``'fp32'`` or ``'bf16'`` (OpenVINO; PyTorch
            autocast): the precision of the float layers. INT8 comes from an
            INT8 model file. OpenVINO's precision is always set explicitly.
        threads (int, optional): Intra-op threads of the engine (PyTorch:
            ``torch.set_num_threads``). Defaults to the engine's choice.
        form (str): PyTorch only: ``'deployed'`` (re-parameterised ParNet,
            BNs folded) or ``'training'``.
        channels_last (bool): PyTorch only: channels-last memory format.
        compile (bool): PyTorch only: ``torch.compile`` the model.
        cfg_options (dict, optional): Overrides of the config.

    Example:
        >>> det = DeployedDetector('outputs/deploy/model.onnx', CONFIG)
        >>> (result, ) = det.predict(['data/demo/demo.jpg'])
        >>> result.pred_instances.bboxes  # original image pixels, xyxy
    """

    def __init__(self,
                 model_file: Optional[Union[str, Path]],
                 config: Union[str, Path, Config],
                 backend: Union[str, Backend] = 'onnxruntime',
                 precision: str = 'fp32',
                 threads: Optional[int] = None,
                 form: str = 'deployed',
                 channels_last: bool = False,
                 compile: bool = False,
                 cfg_options: Optional[dict] = None) -> None:
        self.cfg = load_config(config, cfg_options)
        self.config_name = str(config) if not isinstance(config, Config) \
            else (config.filename or 'the config')
        self.model_file = str(model_file) if model_file is not None else None
        self.head = build_head(self.cfg)
        self.preprocessor = MODELS.build(self.cfg.model.data_preprocessor)
        self._pipelines = {}
        if isinstance(backend, Backend):
            self.backend = backend
        elif backend == 'pytorch':
            if threads:
                torch.set_num_threads(threads)
            _, model = load_detector(self.cfg, model_file, form)
            module = prepare_for_export(model, fold_bn=form == 'deployed')
            label = f'fp32, {form} form'
            if compile:
                module = torch.compile(module)
                label += ', torch.compile'
            self.backend = PyTorchBackend(module, channels_last, precision,
                                          label)
        elif backend in BACKENDS:
            if model_file is None:
                raise ValueError(f'backend {backend} needs a model file: '
                                 f'export one with '
                                 f'tools/deployment/export_model.py')
            self.backend = build_backend(backend, str(model_file), precision,
                                         threads)
        else:
            raise ValueError(f'backend must be one of {BACKENDS}, got '
                             f'{backend!r}')
        head = self.head
        expected = [head.num_base_priors * head.num_attrib] * \
            head.num_levels
        output_channels_check(self.backend, expected, self.model_file,
                              self.config_name)

    # -- pre-processing ----------------------------------------------------

    @property
    def precision(self) -> str:
        """What the engine actually runs (e.g. ``'bf16'``,
        ``'int8 (QDQ) + fp32'``)."""
        return self.backend.precision

    def pipeline(self, from_array: bool) -> Compose:
        if from_array not in self._pipelines:
            self._pipelines[from_array] = Compose(
                test_pipeline_cfg(self.cfg, from_array))
        return self._pipelines[from_array]

    def load(self, image: ImageInput) -> dict:
        """One image through the test pipeline: ``{'inputs', 'data_samples'}``
        (a path, or a BGR ``HxWx3`` uint8 array as ``mmcv.imread`` gives)."""
        if isinstance(image, np.ndarray):
            return self.pipeline(True)(dict(img=image, img_id=0))
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f'image {image} does not exist')
        return self.pipeline(False)(dict(img_path=str(path), img_id=0))

    def preprocess(self, packed: Sequence[dict]):
        """Packed pipeline outputs -> (``float32`` NCHW array, data samples):
        the config's data preprocessor, then bottom-right padding to a
        static model's input size (as mmdet pads a batch), with the
        preprocessor's pad value."""
        data = self.preprocessor(
            dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed]), False)
        inputs, samples = data['inputs'], data['data_samples']
        _, _, fixed_h, fixed_w = self.backend.input_shape
        height, width = inputs.shape[-2:]
        if fixed_h is not None or fixed_w is not None:
            target_h, target_w = fixed_h or height, fixed_w or width
            if height > target_h or width > target_w:
                raise ValueError(
                    f'{self.model_file} takes images of at most '
                    f'{target_h}x{target_w} (fixed at export) but the '
                    f'pre-processed image is {height}x{width} (test pipeline '
                    f'of {self.config_name}). Export the model again at this '
                    f'size (tools/deployment/export_model.py --shape '
                    f'{height} {width}) or with --dynamic-shape, or make the '
                    f'test pipeline resize to at most {target_h}x{target_w}.')
            if (height, width) != (target_h, target_w):
                inputs = F.pad(inputs, (0, target_w - width, 0,
                                        target_h - height),
                               value=float(self.preprocessor.pad_value))
                for sample in samples:
                    sample.set_metainfo(
                        dict(batch_input_shape=(target_h, target_w),
                             pad_shape=(target_h, target_w)))
        return inputs.float().contiguous().numpy(), samples

    # -- inference ------------------------------------------------------------

    def _batches(self, items: list, batch_size: int):
        fixed_batch = self.backend.input_shape[0]
        if fixed_batch is not None:
            batch_size = fixed_batch
        for i in range(0, len(items), batch_size):
            yield items[i:i + batch_size]

    def run_packed(self, packed: Sequence[dict]) -> List[DetDataSample]:
        """Detect on packed pipeline outputs (a dataset's items)."""
        inputs, samples = self.preprocess(packed)
        if (self.backend.input_shape[0] is not None
                and len(packed) != self.backend.input_shape[0]):
            raise ValueError(f'{self.model_file} takes batches of '
                             f'{self.backend.input_shape[0]} exactly; export '
                             f'it with --dynamic-batch for other sizes')
        outputs = self.backend(inputs)
        return self.decode(outputs, samples)

    def decode(self, outputs: Sequence[np.ndarray],
               samples: List[DetDataSample]) -> List[DetDataSample]:
        """Raw maps -> ``samples`` with ``pred_instances`` in original image
        coordinates."""
        maps = [torch.from_numpy(np.asarray(o, dtype=np.float32))
                for o in outputs]
        results = self.head.predict_by_feat(
            maps, [s.metainfo for s in samples], rescale=True)
        for sample, result in zip(samples, results):
            sample.pred_instances = result
        return samples

    def predict(self, images: Sequence[ImageInput],
                batch_size: int = 1) -> List[DetDataSample]:
        """Detect on image files or BGR arrays; one ``DetDataSample`` each,
        boxes (xyxy) in original image pixels."""
        if isinstance(images, (str, Path, np.ndarray)):
            images = [images]
        results = []
        for batch in self._batches(list(images), batch_size):
            results += self.run_packed([self.load(im) for im in batch])
        return results

    def __call__(self, images, batch_size: int = 1):
        return self.predict(images, batch_size)

    def prepare_inputs(self, image: ImageInput) -> np.ndarray:
        """The backend's input for one image (pre-processing only): what
        calibration and the benchmarks feed the engines."""
        return self.preprocess([self.load(image)])[0]

    def __repr__(self) -> str:
        return (f'DeployedDetector({self.model_file}, backend='
                f'{self.backend.name}, precision={self.precision}, input '
                f'{self.backend.input_shape})')
