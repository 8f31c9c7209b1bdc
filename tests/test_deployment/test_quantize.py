"""INT8 post-training quantization (ONNX Runtime QDQ, NNCF) on a tiny
model: it runs, runs in INT8, keeps most boxes, and keeps the boundary
convs in float when asked."""
import pytest

from mmdet_parnet.deployment import (DeployedDetector, calibration_images,
                                     compare_outputs, match_detections)
from mmdet_parnet.deployment.quantize import _boundary_convs_onnx
from mmdet_parnet.deployment.workflow import quantize_detector
from tests.test_deployment.conftest import DEMO_IMAGE

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def int8(exported, tmp_path_factory):
    files, _, cfg = exported
    out = tmp_path_factory.mktemp('int8')
    # the tiny training split (8 images): all of them
    return quantize_detector(cfg, files, out, num_images=300)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_int8_runs_in_int8_and_keeps_most_boxes(exported, int8,
                                                tiny_checkpoint, backend):
    _, _, cfg = exported
    det = DeployedDetector(int8[backend], cfg, backend=backend)
    assert det.precision.startswith('int8')
    ref = DeployedDetector(str(tiny_checkpoint), cfg, backend='pytorch')
    inputs = ref.prepare_inputs(DEMO_IMAGE)
    drift = compare_outputs(ref.backend(inputs), det.backend(inputs))
    assert 0 < drift['rel'] < 0.15, drift
    (expected, ), (got, ) = ref.predict([DEMO_IMAGE]), det.predict(
        [DEMO_IMAGE])
    top = expected.pred_instances[:20]
    assert match_detections(top, got.pred_instances)['kept'] >= 0.7
    if backend == 'openvino':
        convs = det.backend.runtime_precisions()['Convolution']
        assert convs['u8'] + convs['i8'] > 40  # the bulk runs in INT8
        assert convs['f32'] == 5  # first block's 2 convs + 3 output convs


def test_boundary_convs_found(exported):
    import onnx
    files, _, _ = exported
    graph = onnx.load(str(files['onnxruntime'])).graph
    boundary = _boundary_convs_onnx(graph)
    # stem block 1: its fused 3x3 and its SE conv (on the pooled image)
    assert len(boundary['first-conv']) == 2
    # one 1x1 output conv per level, producing the graph's outputs
    assert len(boundary['head-outputs']) == 3
    producers = {o: n.name for n in graph.node for o in n.output}
    assert sorted(producers[o.name] for o in graph.output) == sorted(
        boundary['head-outputs'])


def test_calibration_images_from_training_set_and_folder(exported, tmp_path):
    _, _, cfg = exported
    images = calibration_images(cfg, 5)
    assert len(images) == 5 and all('/train/' in p for p in images)
    (tmp_path / 'a.jpg').write_bytes(open(DEMO_IMAGE, 'rb').read())
    assert calibration_images(cfg, 300, str(tmp_path)) == [
        str(tmp_path / 'a.jpg')
    ]
