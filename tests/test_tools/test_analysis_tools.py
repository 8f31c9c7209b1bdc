"""mmdet's analysis tools on our work dirs, and our stand-in for the one
that needs a GPU: mmdet's analyze_logs.py reads the JSON log of one of our
training runs (it needs seaborn, in requirements.txt); our
benchmark_inference.py does what mmdet's benchmark.py --task inference does
on any device (mmdet's calls .cuda())."""

import pytest

from mmdet_parnet.datasets import make_shapes_dataset
from mmdet_parnet.utils.mmdet_tools import mmdet_tool
from mmdet_parnet.utils.work_dir import latest_run
from tests.utils import run, write_tiny_config


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny model trained for 2 epochs of 2 iterations (with validation)
    by tools/train.py."""
    tmp = tmp_path_factory.mktemp('analysis')
    data_root = tmp / 'shapes'
    make_shapes_dataset(str(data_root), num_train=8, num_val=4, num_test=4,
                        img_size=64, seed=0)
    work_dir = tmp / 'work'
    config = write_tiny_config(tmp, data_root, work_dir)
    run(['tools/train.py', config])
    return dict(tmp=tmp, config=config, work_dir=work_dir)


def test_mmdet_analyze_logs(trained):
    run_dir = latest_run(trained['work_dir'], 'vis_data/{run}.json')
    log = run_dir / 'vis_data' / f'{run_dir.name}.json'
    out = trained['tmp'] / 'curves.png'
    tool = mmdet_tool('analysis_tools/analyze_logs.py')
    result = run([tool, 'plot_curve', log, '--keys', 'loss', 'bbox_mAP',
                  '--backend', 'agg', '--out', out])
    assert f'save curve to: {out}' in result.stdout
    assert out.stat().st_size > 0
    result = run([tool, 'cal_train_time', log, '--include-outliers'])
    assert 'average iter time:' in result.stdout


def test_benchmark_inference_on_cpu(trained):
    ckpt = trained['work_dir'] / 'epoch_2.pth'
    result = run(['tools/analysis_tools/benchmark_inference.py',
                  trained['config'], '--checkpoint', ckpt, '--device', 'cpu',
                  '--max-iter', '3', '--num-warmup', '1', '--deploy'])
    assert 'Overall fps: ' in result.stdout
    assert 'over 2 images after 1 warm-up, on cpu, ' in result.stdout
    # More warm-up than images: says so instead of dividing by zero.
    result = run(['tools/analysis_tools/benchmark_inference.py',
                  trained['config'], '--num-warmup', '10'], check=False)
    assert result.returncode == 1
    assert ('error: the test set has 4 images, no more than '
            '--num-warmup=10: nothing was timed') in result.stderr
