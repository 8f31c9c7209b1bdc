"""The complexity tool against the reference figures of docs/parnet.md."""
import pytest

from conftest import load_tool

complexity = load_tool('analysis_tools/parnet_complexity.py')

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
    row = complexity.complexity(arch, size=64)
    params_train, params_deploy, gflops = REFERENCE[arch]
    assert row['cls_params_train'] == pytest.approx(params_train, rel=5e-3)
    assert row['cls_params_deploy'] == pytest.approx(params_deploy, rel=5e-3)
    assert row['cls_gflops_deploy'] == pytest.approx(gflops, rel=5e-3)
    # deploying removes parameters and work, never adds
    assert row['det_params_deploy'] < row['det_params_train']
    assert row['det_gflops_deploy'] < row['det_gflops_train']
