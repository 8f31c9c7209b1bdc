"""Loading a detector for export, and writing its tensor forward (image
batch -> raw head maps; no decoding, no NMS) as ONNX and OpenVINO IR.

The graph is :class:`RawOutputs`: the detector's ``mode='tensor'`` forward
with the maps flattened to one output per level (``pred_map_s8``,
``pred_map_s16``, ``pred_map_s32``). Decoding and NMS run outside the graph,
in the head's own code (:class:`~.runtime.DeployedDetector`).
"""
import copy
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_state_dict

from ..engine import switch_to_deploy
from ..utils.checkpoint_errors import load_checkpoint_file
from .backends import require
from .transforms import fold_conv_bn, split_grouped_convs

FORMS = ('deployed', 'training')
EXPORTERS = ('dynamo', 'torchscript')
DEFAULT_OPSET = 18
INPUT_NAME = 'input'


def load_config(config: Union[str, Path, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """A config from a file (or a copy of a ``Config``), with overrides."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        if not Path(config).is_file():
            raise FileNotFoundError(f'config {config} does not exist: give a '
                                    f'config of configs/, e.g. '
                                    f'configs/yolov4/yolov4_parnet-s_pafpn-'
                                    f'csp_1xb8-6e_shapes.py')
        cfg = Config.fromfile(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def read_checkpoint(checkpoint: Union[str, Path]) -> dict:
    """The state dict of an mmengine / PyTorch checkpoint (weights-only
    load), its ``module.`` prefixes removed; errors name the file."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f'checkpoint {checkpoint} does not exist: give a .pth written by '
            f'tools/train.py (or tools/model_converters/parnet_deploy.py)')
    if path.suffix in ('.onnx', '.xml'):
        raise ValueError(
            f'{checkpoint} is not a PyTorch checkpoint but an exported model: '
            f'it runs with --backend onnxruntime / openvino; give a .pth '
            f'written by tools/train.py here')
    ckpt = load_checkpoint_file(path)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{checkpoint} holds no state dict of tensors: give '
                         f'a .pth written by tools/train.py')
    return {(k[7:] if k.startswith('module.') else k): v
            for k, v in state.items()}


def load_detector(config: Union[str, Path, Config],
                  checkpoint: Optional[Union[str, Path]] = None,
                  form: str = 'deployed',
                  cfg_options: Optional[dict] = None
                  ) -> Tuple[Config, nn.Module]:
    """(config, detector in eval mode) for ``checkpoint``.

    A checkpoint in ParNet's deployed form (``meta['parnet_deployed']`` or
    ``.reparam.`` keys) is loaded into the deployed network. ``form``:
    ``'deployed'`` switches ParNet to its re-parameterised form after
    loading; ``'training'`` keeps the branches (to quantize them before
    re-parameterisation), which a deployed checkpoint cannot give back.
    Without a checkpoint the weights are random (latency only).
    """
    if form not in FORMS:
        raise ValueError(f'form must be one of {FORMS}, got {form!r}')
    cfg = load_config(config, cfg_options)
    state = read_checkpoint(checkpoint) if checkpoint is not None else None
    is_parnet = cfg.model.backbone.get('type') == 'ParNet'
    saved_deployed = state is not None and any('.reparam.' in k
                                               for k in state)
    if saved_deployed and is_parnet:
        if form == 'training':
            raise ValueError(
                f'{checkpoint} holds ParNet in its deployed form, which '
                f'cannot be turned back into the training form: give the '
                f'training checkpoint (tools/train.py) for form=training.')
        cfg.model.backbone.deploy = True
    model = MODELS.build(cfg.model)
    if state is not None:
        try:
            load_state_dict(model, state, strict=True)
        except (RuntimeError, ValueError) as err:
            name = config if not isinstance(config, Config) else \
                'the config'
            raise ValueError(
                f'{checkpoint} does not load into the model of {name}: it is '
                f'a checkpoint of another model (or another form). Give the '
                f'checkpoint trained with this config. Loader said: '
                f'{str(err).strip()[:600]}') from err
    model.eval()
    if form == 'deployed':
        switch_to_deploy(model)
    return cfg, model


class RawOutputs(nn.Module):
    """The exported graph: a detector's tensor forward, one output tensor
    per head level, ``(N, A * (5 + C), H / s, W / s)`` in ascending
    stride."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    @property
    def output_names(self) -> List[str]:
        strides = self.detector.bbox_head.featmap_strides
        return [f'pred_map_s{s}' for s in strides]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = self.detector(x, mode='tensor')
        if len(outs) == 1 and isinstance(outs[0], (list, tuple)):
            outs = outs[0]  # YOLOv3-style heads return ((maps...), )
        return tuple(outs)


def prepare_for_export(model: nn.Module, fold_bn: bool = True,
                       split_groups: bool = False) -> RawOutputs:
    """The detector's graph for export: BNs folded into their ConvModule's
    conv (``fold_bn``) and grouped convs as plain convs
    (``split_groups``), both exact."""
    model.eval()
    if fold_bn:
        fold_conv_bn(model)
    if split_groups:
        split_grouped_convs(model)
    backbone = getattr(model, 'backbone', None)
    if getattr(backbone, 'channels_last', False):
        # Memory format is no part of an ONNX graph; the engines pick theirs.
        backbone.channels_last = False
    return RawOutputs(model).eval()


def export_onnx(module: RawOutputs,
                out_file: Union[str, Path],
                size: Sequence[int],
                dynamic_batch: bool = False,
                dynamic_size: bool = False,
                opset: int = DEFAULT_OPSET,
                exporter: str = 'dynamo') -> Path:
    """Write ``module`` as ONNX.

    Args:
        size: ``(H, W)`` of the example input, multiples of 32; the model's
            fixed size unless ``dynamic_size``.
        dynamic_batch: Leave the batch dimension free.
        dynamic_size: Leave height and width free (multiples of 32: ParNet
            and the neck's strides need them; the runtime pads to them).
        opset: ONNX opset of the default domain.
        exporter: ``'dynamo'`` (``torch.export`` based, torch's default;
            needs onnxscript) or ``'torchscript'`` (the older tracer).
    """
    require('onnx', 'to write ONNX models')
    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got '
                         f'{exporter!r}')
    height, width = size
    if height % 32 or width % 32:
        raise ValueError(f'the export size {height}x{width} is not a multiple '
                         f'of 32 (the detector\'s largest stride): use e.g. '
                         f'{-(-height // 32) * 32}x{-(-width // 32) * 32}')
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    names = module.output_names
    example = torch.rand(2 if dynamic_batch else 1, 3, height, width)
    kwargs = dict(input_names=[INPUT_NAME], output_names=names,
                  opset_version=opset)
    if exporter == 'dynamo':
        require('onnxscript', 'by the dynamo ONNX exporter')
        from torch.export import Dim
        dims = {}
        if dynamic_batch:
            dims[0] = Dim('batch', min=1, max=256)
        if dynamic_size:
            dims[2] = 32 * Dim('height_div32', min=1, max=256)
            dims[3] = 32 * Dim('width_div32', min=1, max=256)
        torch.onnx.export(module, (example, ), str(out_file), dynamo=True,
                          external_data=False,
                          dynamic_shapes=({**dims}, ) if dims else None,
                          **kwargs)
    else:
        axes = {}
        if dynamic_batch:
            axes[0] = 'batch'
        if dynamic_size:
            axes.update({2: 'height', 3: 'width'})
        dynamic_axes = None
        if axes:
            dynamic_axes = {INPUT_NAME: axes}
            for name in names:
                dynamic_axes[name] = {
                    k: f'{v}_{name}' if k else v
                    for k, v in axes.items()
                }
        with torch.no_grad():
            torch.onnx.export(module, (example, ), str(out_file),
                              dynamo=False, dynamic_axes=dynamic_axes,
                              do_constant_folding=True, **kwargs)
    import onnx
    onnx.checker.check_model(str(out_file))
    return out_file


def onnx_to_openvino(onnx_file: Union[str, Path],
                     xml_file: Union[str, Path]) -> Path:
    """Convert an ONNX model to OpenVINO IR (``.xml`` + ``.bin``), weights
    kept in fp32 (``save_model`` would store them in fp16 by default)."""
    ov = require('openvino', 'to write OpenVINO IR')
    xml_file = Path(xml_file)
    xml_file.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_file))
    ov.save_model(model, str(xml_file), compress_to_fp16=False)
    return xml_file
