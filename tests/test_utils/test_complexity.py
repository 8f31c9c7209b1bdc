"""Parameter and FLOP counts against the reference figures of
docs/parnet.md, and the counter against a hand-counted network."""
import pytest
import torch.nn as nn

from mmdet_parnet import switch_to_deploy
from mmdet_parnet.utils.complexity import ParNetClassifier, count_complexity

#: Classifier form at 224x224: params training, params deployed (M),
#: GFLOPs deployed (2 x multiply-adds), counted on the released code.
REFERENCE = {
    'S': (20.98, 19.18, 9.70),
    'S92': (20.93, 19.13, 9.50),
    'M': (38.95, 35.58, 17.20),
    'L': (60.18, 54.92, 26.69),
    'XL': (93.18, 84.96, 41.49),
}


@pytest.mark.parametrize('arch', list(REFERENCE))
def test_classifier_counts_match_reference(arch):
    params_train, params_deploy, gflops = REFERENCE[arch]
    model = ParNetClassifier(arch)
    params, _ = count_complexity(model, (224, 224))
    assert params == pytest.approx(params_train, rel=5e-3)
    switch_to_deploy(model)
    params, macs = count_complexity(model, (224, 224))
    assert params == pytest.approx(params_deploy, rel=5e-3)
    assert 2 * macs == pytest.approx(gflops, rel=5e-3)


def test_counts_a_hand_counted_network():
    """3x3 conv 3 -> 8 with bias at 16x16: 8 * 3 * 9 multiply-adds per
    output pixel; the linear layer 8 -> 4: 32."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4))
    params, macs = count_complexity(model, (16, 16))
    assert params * 1e6 == 8 * 3 * 9 + 8 + 8 * 4 + 4
    # conv + linear; mmengine also counts the pooling's 8 * 256 reads
    assert macs * 1e9 == pytest.approx(8 * 3 * 9 * 256 + 32 + 8 * 256)
