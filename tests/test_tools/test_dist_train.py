"""Distributed training and testing on CPU-only machines (gloo): the
launcher scripts end to end, run as a user would: from another directory,
with paths relative to it, without activating the virtual environment."""
import os
import subprocess
from pathlib import Path

import pytest
import torch

from mmdet_parnet.datasets import make_shapes_dataset
from tests.utils import (PYTHON, REPO, free_port, load_meta, reported_map,
                         write_tiny_config)

VENV_PYTHON = REPO / '.venv' / 'bin' / 'python'


def user_env(**extra):
    """The environment of a shell where the virtual environment is not
    activated: no PYTHON (unless this checkout has no .venv, where the
    scripts could not find one), nothing of the venv on the PATH."""
    env = dict(os.environ, OMP_NUM_THREADS='1', **extra)
    env.pop('VIRTUAL_ENV', None)
    venv_dirs = {str(Path(PYTHON).parent), str(VENV_PYTHON.parent)}
    env['PATH'] = os.pathsep.join(
        d for d in env.get('PATH', '').split(os.pathsep)
        if d not in venv_dirs)
    if 'PYTHON' not in extra:
        env.pop('PYTHON', None)
        if not VENV_PYTHON.exists():
            env['PYTHON'] = PYTHON
    return env


def script(name, *args, cwd, env=None, timeout=300):
    return subprocess.run(
        ['bash', str(REPO / 'tools' / name), *map(str, args)], cwd=cwd,
        env=env or user_env(), capture_output=True, text=True,
        timeout=timeout)


def launch(name, *args, cwd, timeout=300):
    """Run tools/<name> with 2 CPU processes on a free port from ``cwd``."""
    for attempt in range(2):
        result = script(name, *args, cwd=cwd, timeout=timeout,
                        env=user_env(PORT=str(free_port())))
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

    # Paths as the caller wrote them, relative to the caller's directory.
    output = launch('dist_train.sh', config.name, 2, '--cfg-options',
                    'train_cfg.max_epochs=1', cwd=tmp_path)
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

    output = launch('dist_test.sh', config.name, 'work/epoch_1.pth', 2,
                    '--work-dir', 'test', cwd=tmp_path)
    assert 0 <= reported_map(output) <= 1
    assert (tmp_path / 'test').is_dir()


def test_scripts_name_what_is_missing(tmp_path):
    # A config that is not there, relative to the caller's directory.
    for name, args in (('dist_train.sh', ['nope.py', 2]),
                       ('dist_test.sh', ['nope.py', 'nope.pth', 2])):
        result = script(name, *args, cwd=tmp_path)
        assert result.returncode == 1
        assert ('config nope.py not found' if name == 'dist_train.sh' else
                'nope.py not found') in result.stderr
        assert f'(relative paths are taken from {tmp_path})' in result.stderr
    (tmp_path / 'tiny.py').write_text('')
    result = script('dist_test.sh', 'tiny.py', 'nope.pth', 2, cwd=tmp_path)
    assert result.returncode == 1 and 'nope.pth not found' in result.stderr
    # An interpreter without torch (as `python` is outside the venv).
    no_torch = tmp_path / 'python-without-torch'
    no_torch.write_text(f'#!/bin/sh\nexec "{PYTHON}" -S "$@"\n')
    no_torch.chmod(0o755)
    result = script('dist_train.sh', 'tiny.py', 2, cwd=tmp_path,
                    env=user_env(PYTHON=str(no_torch)))
    assert result.returncode == 1
    assert (f'{no_torch} cannot import torch. Run \'make env\' in {REPO}'
            in result.stderr)
    # Too few arguments: usage.
    result = script('dist_test.sh', 'tiny.py', cwd=tmp_path)
    assert result.returncode == 2 and 'usage: bash' in result.stderr
