"""Export, backends and the runtime: raw outputs and final boxes against
PyTorch, boxes in original image coordinates, dynamic shapes, BF16 and the
precision each engine reports."""

import mmcv
import numpy as np
import pytest
import torch

from mmdet_parnet.deployment import (DeployedDetector, compare_outputs,
                                     export_onnx, load_detector,
                                     match_detections, prepare_for_export)
from tests.test_deployment.conftest import DEMO_IMAGE

pytestmark = pytest.mark.usefixtures('one_thread')


def reference(cfg, checkpoint):
    return DeployedDetector(str(checkpoint), cfg, backend='pytorch')


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_exported_model_matches_pytorch(exported, tiny_checkpoint, backend):
    files, module, cfg = exported
    assert files['onnxruntime'].suffix == '.onnx'
    assert files['openvino'].suffix == '.xml'
    ref = reference(cfg, tiny_checkpoint)
    det = DeployedDetector(files[backend], cfg, backend=backend)
    assert det.precision in ('fp32', 'f32')
    assert det.backend.input_shape == (1, 3, 64, 64)
    inputs = ref.prepare_inputs(DEMO_IMAGE)
    raw = compare_outputs(ref.backend(inputs), det.backend(inputs))
    assert raw['rel'] < 1e-4, raw
    (expected, ), (got, ) = ref.predict([DEMO_IMAGE]), det.predict(
        [DEMO_IMAGE])
    assert len(expected.pred_instances) > 10
    boxes = match_detections(expected.pred_instances, got.pred_instances)
    assert boxes['kept'] == 1.0 and boxes['max_abs'] < 0.05, boxes
    torch.testing.assert_close(got.pred_instances.scores,
                               expected.pred_instances.scores, atol=1e-4,
                               rtol=1e-3)


def test_boxes_in_original_image_coordinates(exported, tiny_checkpoint):
    """A 720x1280 photo: the runtime's boxes are mmdet's own detector's
    (predict mode, rescaled), i.e. the network-input boxes divided by the
    resize scale factor."""
    files, _, cfg = exported
    det = DeployedDetector(files['onnxruntime'], cfg)
    image = mmcv.imread(DEMO_IMAGE)
    (result, ) = det.predict([image])
    assert result.ori_shape == image.shape[:2] == (720, 1280)
    assert result.img_shape == (36, 64)  # keep_ratio resize to 64
    assert result.batch_input_shape == (64, 64)  # padded to the fixed size
    # mmdet's own forward on the same pre-processed batch
    _, model = load_detector(cfg, tiny_checkpoint)
    packed = det.load(image)
    data = det.preprocessor(dict(inputs=[packed['inputs']],
                                 data_samples=[packed['data_samples']]),
                            False)
    assert data['inputs'].shape[-2:] == (64, 64)  # pad_size_divisor 32
    with torch.no_grad():
        (own, ) = model(**data, mode='predict')
    boxes = match_detections(own.pred_instances, result.pred_instances)
    assert boxes['kept'] == 1.0 and boxes['max_abs'] < 0.05
    # and in network-input pixels they are scaled by the resize factor
    with torch.no_grad():
        maps = model(data['inputs'], mode='tensor')[0]
    (unscaled, ) = det.head.predict_by_feat(
        maps, [result.metainfo], rescale=False)
    scale = result.scale_factor[0]
    torch.testing.assert_close(unscaled.bboxes / scale,
                               own.pred_instances.bboxes, atol=1e-3,
                               rtol=1e-4)


def test_dynamic_batch_and_shape(tiny_config, tiny_checkpoint, tmp_path):
    cfg, model = load_detector(str(tiny_config), str(tiny_checkpoint))
    module = prepare_for_export(model)
    path = export_onnx(module, tmp_path / 'dyn.onnx', (64, 64),
                       dynamic_batch=True, dynamic_size=True,
                       exporter='torchscript')
    det = DeployedDetector(path, cfg)
    assert det.backend.input_shape == (None, 3, None, None)
    torch.manual_seed(0)
    for shape in [(2, 3, 96, 64), (1, 3, 64, 128)]:
        x = torch.rand(shape)
        with torch.no_grad():
            expected = module(x)
        got = det.backend(x.numpy())
        assert [g.shape for g in got] == [tuple(e.shape) for e in expected]
        assert compare_outputs(expected, got)['rel'] < 1e-4
    # a batch of two differently shaped images
    results = det.predict([DEMO_IMAGE, mmcv.imread(DEMO_IMAGE)[:300]],
                          batch_size=2)
    assert [r.ori_shape for r in results] == [(720, 1280), (300, 1280)]


def test_openvino_bf16_reports_what_ran(exported, tiny_checkpoint):
    import openvino as ov
    files, _, cfg = exported
    det = DeployedDetector(files['openvino'], cfg, backend='openvino',
                           precision='bf16')
    has_bf16 = 'BF16' in ov.Core().get_property('CPU',
                                                 'OPTIMIZATION_CAPABILITIES')
    assert det.precision == ('bf16' if has_bf16 else 'f32')
    fp32 = DeployedDetector(files['openvino'], cfg, backend='openvino')
    assert fp32.precision == 'f32'  # set explicitly, even on a bf16 CPU
    ref = reference(cfg, tiny_checkpoint)
    (expected, ), (got, ) = ref.predict([DEMO_IMAGE]), det.predict(
        [DEMO_IMAGE])
    top = expected.pred_instances[:20]
    assert match_detections(top, got.pred_instances)['kept'] >= 0.8


def test_pytorch_training_form_matches_deployed(tiny_config,
                                                tiny_checkpoint):
    training = DeployedDetector(str(tiny_checkpoint), str(tiny_config),
                                backend='pytorch', form='training')
    deployed = DeployedDetector(str(tiny_checkpoint), str(tiny_config),
                                backend='pytorch', channels_last=True)
    inputs = training.prepare_inputs(DEMO_IMAGE)
    assert np.isfinite(inputs).all()
    assert compare_outputs(training.backend(inputs),
                           deployed.backend(inputs))['rel'] < 1e-4


def test_check_models_pads_to_a_larger_fixed_size(tiny_config,
                                                  tiny_checkpoint, tmp_path):
    """A model fixed at 96x96 fed a 64-pixel test pipeline: the runtime pads
    the input to 96x96, and the export check compares on that input."""
    from mmdet_parnet.deployment.workflow import check_models
    cfg, model = load_detector(str(tiny_config), str(tiny_checkpoint))
    module = prepare_for_export(model)
    path = export_onnx(module, tmp_path / 'm96.onnx', (96, 96),
                       exporter='torchscript')
    (row, ) = check_models(cfg, module, [('onnxruntime', path, 'fp32')],
                           DEMO_IMAGE)
    assert row['rel'] < 1e-4 and row['kept'] == 1.0 and row['count'] > 0
    det = DeployedDetector(path, cfg)
    (result, ) = det.predict([DEMO_IMAGE])
    assert result.batch_input_shape == (96, 96)
    assert result.img_shape == (36, 64)
