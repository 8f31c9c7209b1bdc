"""The deployment CLIs end to end on a tiny model: export (with INT8),
evaluation of the exported models, the benchmark, and image inference
through a backend."""
import json

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_parnet.datasets import make_shapes_dataset
from mmdet_parnet.deployment import run_deployed_inference
from tests.test_deployment.conftest import randomize_bns
from tests.utils import REPO, run, write_tiny_config

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('deploy_tools')
    make_shapes_dataset(str(tmp / 'shapes'), num_train=8, num_val=4,
                        num_test=4, img_size=64)
    config = write_tiny_config(tmp, tmp / 'shapes', tmp / 'work')
    init_default_scope('mmdet')
    model = randomize_bns(MODELS.build(Config.fromfile(str(config)).model))
    checkpoint = tmp / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    return tmp, config, checkpoint


@pytest.fixture(scope='module')
def exported(tiny):
    tmp, config, checkpoint = tiny
    out = tmp / 'export'
    result = run([
        'tools/deployment/export_model.py', config, checkpoint, '--out-dir',
        out, '--exporter', 'torchscript', '--split-grouped-convs', '--int8',
        '--calib-images', '4', '--fp64-reference'
    ])
    return out, result.stdout


def test_export_tool(exported):
    out, stdout = exported
    for name in ('model.onnx', 'model.xml', 'model.bin', 'model_int8.onnx',
                 'model_int8.xml'):
        assert (out / name).is_file(), name
    assert 'Parity with PyTorch' in stdout
    assert 'PyTorch fp32 vs PyTorch fp64' in stdout
    assert 'int8 (QDQ) + fp32' in stdout
    assert 'int8 (FakeQuantize) + f32' in stdout
    assert 'Calibration: 4 images of the training set' in stdout
    # the split grouped convs run in INT8 in OpenVINO: no GroupConvolution
    assert 'GroupConvolution' not in stdout.split('execution graph')[-1]


@pytest.mark.parametrize('model', ['model.onnx', 'model_int8.xml'])
def test_test_deployed_tool(tiny, exported, model):
    tmp, config, _ = tiny
    out, _ = exported
    metrics = tmp / f'{model}.json'
    result = run(['tools/deployment/test_deployed.py', config, out / model,
                  '--out', metrics])
    summary = json.loads(metrics.read_text())
    assert summary['backend'] == ('onnxruntime' if model.endswith('.onnx')
                                  else 'openvino')
    assert 'coco/bbox_mAP' in summary and 'running' in result.stdout


def test_benchmark_tool(tiny):
    tmp, config, checkpoint = tiny
    out = tmp / 'bench'
    result = run([
        'tools/analysis_tools/benchmark_deployment.py', '--config', config,
        '--checkpoint', checkpoint, '--no-twin', '--size', '64',
        '--threads', '1', '--rounds', '1', '--warmup', '0', '--variants',
        'eager-deployed', 'ort-fp32', 'ov-bf16', '--out-dir', out
    ])
    assert '| ParNet-S-YOLOv4 | ONNX Runtime fp32 | fp32 |' in result.stdout
    assert 'head predict_by_feat' in result.stdout
    for name in ('benchmark.md', 'benchmark.json', 'latency_vs_map.png'):
        assert (out / '64' / name).is_file()
    rows = json.loads((out / '64' / 'benchmark.json').read_text())
    assert {r['variant'] for r in rows} == {'eager-deployed', 'ort-fp32',
                                            'ov-bf16'}
    assert all('mAP' in r for r in rows)


def test_inference_through_a_backend(tiny, exported, tmp_path):
    _, config, _ = tiny
    out, _ = exported
    image = REPO / 'data' / 'demo' / 'dog.jpg'
    (result, ) = run_deployed_inference(str(config), str(out / 'model.xml'),
                                        [str(image)], backend='openvino',
                                        out_dir=str(tmp_path), score_thr=0.0)
    preds = json.loads((tmp_path / 'preds' / 'dog.json').read_text())
    assert len(preds['bboxes']) == len(result.pred_instances) > 0
    assert (tmp_path / 'vis' / 'dog.jpg').is_file()
