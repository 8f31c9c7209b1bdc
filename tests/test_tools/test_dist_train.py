"""Distributed training and testing on CPU-only machines (gloo): the
launcher scripts end to end."""
import os
import subprocess

import pytest
import torch

from mmdet_parnet.datasets import make_shapes_dataset
from tests.utils import (PYTHON, REPO, free_port, load_meta, reported_map,
                         write_tiny_config)


def launch(script, *args, timeout=300):
    """Run tools/<script> with 2 CPU processes on a free port."""
    for attempt in range(2):
        env = dict(os.environ, PYTHON=PYTHON, PORT=str(free_port()),
                   OMP_NUM_THREADS='1')
        result = subprocess.run(
            ['bash', str(REPO / 'tools' / script), *map(str, args)],
            cwd=REPO, env=env, capture_output=True, text=True,
            timeout=timeout)
        output = result.stdout + result.stderr
        # The port was free when picked; another process may have taken it.
        if result.returncode == 0 or 'address already in use' not in \
                output.lower():
            break
    assert result.returncode == 0, output[-6000:]
    return output


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU path')
def test_dist_train_and_test_on_cpu(tmp_path):
    data_root = tmp_path / 'shapes'
    make_shapes_dataset(str(data_root), num_train=16, num_val=8, num_test=8,
                        img_size=64, seed=0)
    work_dir = tmp_path / 'work'
    config = write_tiny_config(tmp_path, data_root, work_dir)

    output = launch('dist_train.sh', config, 2, '--cfg-options',
                    'train_cfg.max_epochs=1')
    assert 'Distributed training: True' in output
    assert "'backend': 'gloo'" in output
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file()
    # 16 images, 4 per batch and process: 2 iterations per epoch on each of
    # the 2 processes (one process would have taken 4).
    meta = load_meta(ckpt)
    assert (meta['epoch'], meta['iter']) == (1, 2)
    state = torch.load(ckpt, map_location='cpu',
                       weights_only=True)['state_dict']
    assert not any(k.startswith('module.') for k in state)
    assert 0 <= reported_map(output) <= 1  # validation, gathered

    output = launch('dist_test.sh', config, ckpt, 2, '--work-dir',
                    tmp_path / 'test')
    assert 0 <= reported_map(output) <= 1
