"""Mish is found by ConvModule's act_cfg in every registry scope, once."""
import importlib
from collections import OrderedDict

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope
from torch import nn

import mmdet_parnet  # noqa: F401
from mmdet_parnet.models import mish


def test_mish_registered_once_in_each_registry():
    assert MMENGINE_MODELS.get('Mish') is nn.Mish
    assert MMDET_MODELS.module_dict['Mish'] is nn.Mish
    # Importing the module again must not register twice (a KeyError).
    importlib.reload(mish)


def _conv_module_with_mish():
    conv = ConvModule(
        3, 4, 3, padding=1, norm_cfg=dict(type='BN'),
        act_cfg=dict(type='Mish'))
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(conv(x), F.mish(conv.norm(conv.conv(x))))


def test_conv_module_mish_in_mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert DefaultScope.get_current_instance().scope_name == 'mmdet'
        _conv_module_with_mish()


def test_conv_module_mish_without_default_scope(monkeypatch):
    monkeypatch.setattr(DefaultScope, '_instance_dict', OrderedDict())
    assert DefaultScope.get_current_instance() is None
    _conv_module_with_mish()
