"""Bad input to the deployment code gets an error that names the problem,
the file and the fix."""
import sys

import pytest
import torch

from mmdet_parnet.deployment import (DeployedDetector, calibration_images,
                                     export_onnx, load_detector)
from tests.test_deployment.conftest import DEMO_IMAGE
from tests.utils import CONFIG_DIR, DARKNET_TWIN

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.mark.parametrize('package, backend, pin', [
    ('onnxruntime', 'onnxruntime', 'onnxruntime==1.31.1'),
    ('openvino', 'openvino', 'openvino==2026.4.1'),
])
def test_missing_backend_package(monkeypatch, exported, package, backend,
                                 pin):
    files, _, cfg = exported
    monkeypatch.setitem(sys.modules, package, None)  # import fails
    with pytest.raises(ImportError) as err:
        DeployedDetector(files[backend], cfg, backend=backend)
    assert f'{package} is not installed' in str(err.value)
    assert f'pip install {pin}' in str(err.value)


def test_missing_nncf_for_int8(monkeypatch, exported, tmp_path):
    from mmdet_parnet.deployment import quantize_openvino
    files, _, _ = exported
    monkeypatch.setitem(sys.modules, 'nncf', None)
    with pytest.raises(ImportError, match=r'pip install nncf==3\.4\.0'):
        quantize_openvino(files['openvino'], tmp_path / 'q.xml', [None])


def test_image_larger_than_a_static_model(exported, tiny_config, tmp_path):
    files, _, _ = exported  # fixed at 64x64
    config = tmp_path / 'bigger.py'
    config.write_text(f'_base_ = {str(tiny_config)!r}\n'
                      'test_pipeline = [dict(type="LoadImageFromFile"), '
                      'dict(type="Resize", scale=(128, 128), keep_ratio=True),'
                      ' dict(type="PackDetInputs")]\n'
                      'test_dataloader = dict(dataset=dict('
                      'pipeline=test_pipeline))\n')
    det = DeployedDetector(files['onnxruntime'], str(config))
    with pytest.raises(ValueError) as err:
        det.predict([DEMO_IMAGE])
    message = str(err.value)
    assert str(files['onnxruntime']) in message
    assert 'at most 64x64' in message and '96x128' in message
    assert '--shape 96 128' in message and '--dynamic-shape' in message


def test_export_size_not_multiple_of_32(exported, tmp_path):
    _, module, _ = exported
    with pytest.raises(ValueError, match=r'100x64 is not a multiple of 32.*'
                       r'128x64'):
        export_onnx(module, tmp_path / 'm.onnx', (100, 64))


def test_checkpoint_of_another_model(tiny_checkpoint):
    # the Darknet53 twin's config with the (tiny) ParNet checkpoint
    with pytest.raises(ValueError) as err:
        load_detector(str(CONFIG_DIR / DARKNET_TWIN), tiny_checkpoint)
    message = str(err.value)
    assert str(tiny_checkpoint) in message and DARKNET_TWIN in message
    assert 'checkpoint of another model' in message


def test_deployed_checkpoint_cannot_give_the_training_form(
        tiny_config, tiny_checkpoint, tmp_path):
    _, model = load_detector(str(tiny_config), tiny_checkpoint)
    deployed = tmp_path / 'deployed.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(parnet_deployed=True)), deployed)
    # a deployed checkpoint loads (into the deployed network) ...
    load_detector(str(tiny_config), deployed)
    # ... but cannot be exported in training form
    with pytest.raises(ValueError, match='deployed form.*training checkpoint'):
        load_detector(str(tiny_config), deployed, form='training')


def test_model_of_another_config(exported, tmp_path):
    files, _, _ = exported  # 6 classes
    with pytest.raises(ValueError) as err:
        DeployedDetector(files['onnxruntime'],
                         str(CONFIG_DIR / DARKNET_TWIN))  # 80 classes
    message = str(err.value)
    assert 'exported from another config' in message
    assert '[33, 33, 33]' in message and '[255, 255, 255]' in message


@pytest.mark.parametrize('backend, name', [('onnxruntime', 'model.onnx'),
                                           ('openvino', 'model.xml'),
                                           ('openvino', 'model.onnx')])
def test_model_file_that_is_not_one(exported, tmp_path, backend, name):
    _, _, cfg = exported
    path = tmp_path / name
    path.write_text('not a model')
    with pytest.raises(ValueError) as err:
        DeployedDetector(path, cfg, backend=backend)
    assert f'{path} is not a readable' in str(err.value)
    assert 'tools/deployment/export_model.py' in str(err.value)


def test_checkpoint_given_as_model_and_model_as_checkpoint(
        exported, tiny_checkpoint):
    files, _, cfg = exported
    with pytest.raises(ValueError, match=r'runs \.onnx files.*tiny\.pth'):
        DeployedDetector(tiny_checkpoint, cfg, backend='onnxruntime')
    with pytest.raises(ValueError, match=r'model\.onnx is not a PyTorch '
                       r'checkpoint.*--backend onnxruntime'):
        DeployedDetector(files['onnxruntime'], cfg, backend='pytorch')


def test_calibration_folder_without_images(exported, tmp_path):
    _, _, cfg = exported
    (tmp_path / 'notes.txt').write_text('no images here')
    with pytest.raises(FileNotFoundError) as err:
        calibration_images(cfg, 10, str(tmp_path))
    assert f'calibration folder {tmp_path} holds no images' in str(err.value)
    assert '--calib-dir' in str(err.value)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        calibration_images(cfg, 10, str(tmp_path / 'missing'))


def test_missing_files(exported, tmp_path):
    _, _, cfg = exported
    with pytest.raises(FileNotFoundError, match='export it'):
        DeployedDetector(tmp_path / 'none.onnx', cfg)
    with pytest.raises(FileNotFoundError, match='config .* does not exist'):
        DeployedDetector(tmp_path / 'none.onnx', tmp_path / 'none.py')
    det = DeployedDetector(None, cfg, backend='pytorch')
    with pytest.raises(FileNotFoundError, match='image .* does not exist'):
        det.predict([str(tmp_path / 'none.jpg')])
