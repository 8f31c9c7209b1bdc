"""Fixtures of the deployment tests: a tiny shapes data set, a tiny config
of the shapes demo, a tiny checkpoint with random BN statistics, and its
exports (built once per session)."""
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_parnet.datasets import make_shapes_dataset
from tests.utils import REPO, write_tiny_config

#: Real, non-square photographs (not the 64 px training squares).
DEMO_IMAGE = str(REPO / 'data' / 'demo' / 'zidane.jpg')


def randomize_bns(model):
    """Random but fixed BN statistics and affine parameters (eval mode):
    outputs far from the identity-BN of a fresh model, of a moderate
    range."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes')
    make_shapes_dataset(str(root), num_train=8, num_val=4, num_test=4,
                        img_size=64)
    return root


@pytest.fixture(scope='session')
def tiny_config(shapes_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('config')
    return write_tiny_config(tmp, shapes_root, tmp / 'work')


@pytest.fixture(scope='session')
def tiny_checkpoint(tiny_config, tmp_path_factory):
    torch.manual_seed(0)
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(tiny_config))
    model = randomize_bns(MODELS.build(cfg.model))
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


@pytest.fixture(scope='session')
def exported(tiny_config, tiny_checkpoint, tmp_path_factory):
    """The default export (dynamo exporter, fixed 64x64 input) for both
    backends: ({backend: file}, the PyTorch module it came from, cfg)."""
    from mmdet_parnet.deployment.workflow import export_detector
    out = tmp_path_factory.mktemp('export')
    return export_detector(str(tiny_config), str(tiny_checkpoint), out)
