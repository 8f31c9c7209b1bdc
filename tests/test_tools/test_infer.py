"""tools/infer.py meets unreadable files: each is reported by name and
skipped, the rest processed and the skips counted (or, with --strict, the
first is an error naming it); weights that are not a checkpoint are an error
naming the file."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_parnet.datasets import SHAPES_CLASSES
from tests.utils import run, write_tiny_config


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A tiny config and a checkpoint of its (untrained) model, and a folder
    with two images and three unreadable files."""
    tmp = tmp_path_factory.mktemp('infer')
    config = write_tiny_config(tmp, tmp / 'data', tmp / 'work')
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(str(config)).model)
    ckpt = tmp / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=SHAPES_CLASSES))),
               ckpt)
    folder = tmp / 'images'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ('good_1.jpg', 'good_2.png', 'truncated.jpg'):
        cv2.imwrite(str(folder / name),
                    rng.integers(0, 256, (48, 64, 3), np.uint8))
    jpeg = (folder / 'truncated.jpg').read_bytes()
    (folder / 'truncated.jpg').write_bytes(jpeg[:len(jpeg) // 2])
    (folder / 'empty.jpg').write_bytes(b'')
    (folder / 'text.jpg').write_text('this is not an image\n')
    return dict(tmp=tmp, config=config, ckpt=ckpt, folder=folder)


def infer(setup, *args, weights=None, out='out'):
    return run(['tools/infer.py', *args, '--config', setup['config'],
                '--weights', weights or setup['ckpt'], '--out-dir',
                setup['tmp'] / out, '--score-thr', '0'], check=False)


def test_unreadable_files_are_skipped_and_counted(setup):
    folder, out = setup['folder'], setup['tmp'] / 'out'
    result = infer(setup, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr
    for line in (f'skipping {folder}/empty.jpg: the file is empty (0 bytes)',
                 f'skipping {folder}/text.jpg: it is not an image file',
                 f'skipping {folder}/truncated.jpg: it is cut short'):
        assert line in result.stderr
    assert f'2 images: annotated images in {out}/vis' in result.stdout
    assert ('3 unreadable files skipped (1 empty, 1 not an image, '
            f'1 truncated): {folder}/empty.jpg, {folder}/text.jpg, '
            f'{folder}/truncated.jpg') in result.stdout
    assert sorted(p.name for p in (out / 'vis').iterdir()) == [
        'good_1.jpg', 'good_2.png']
    assert sorted(p.name for p in (out / 'preds').iterdir()) == [
        'good_1.json', 'good_2.json']


def test_strict_stops_at_the_first_unreadable_file(setup):
    folder = setup['folder']
    result = infer(setup, folder / 'good_1.jpg', folder / 'empty.jpg',
                   folder / 'text.jpg', '--strict', out='strict')
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert (f'error: {folder}/empty.jpg is not a readable image: the file is '
            'empty (0 bytes) (--strict stops at the first unreadable file'
            ) in result.stderr
    assert 'text.jpg' not in result.stderr
    assert not (setup['tmp'] / 'strict').exists()


def test_nothing_readable(setup):
    folder = setup['folder']
    result = infer(setup, folder / 'empty.jpg', out='none')
    assert result.returncode == 1
    assert ('error: none of the 1 files is a readable image; 1 unreadable '
            f'file skipped (1 empty): {folder}/empty.jpg') in result.stderr


def test_weights_that_are_not_a_checkpoint(setup):
    bad = setup['tmp'] / 'download.pth'
    data = setup['ckpt'].read_bytes()
    bad.write_bytes(data[:len(data) // 3])
    result = infer(setup, setup['folder'] / 'good_1.jpg', weights=bad,
                   out='bad-weights')
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert (f'error: {bad} is not a readable checkpoint: it is cut short or '
            'damaged') in result.stderr
    assert 'weights_only' not in result.stderr
