"""The whole loop on a tiny shapes dataset, through the real entry points as
subprocesses: mmdet's own train.py / test.py (custom_imports and weights-only
checkpoint loading), our tools/test.py with and without --deploy, the deploy
converter, tools/infer.py, and resuming an interrupted run."""
import json
import os
import pickle
from pathlib import Path

import cv2
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_parnet.datasets import make_shapes_dataset
from mmdet_parnet.utils.mmdet_tools import MMDET_TOOLS
from tests.utils import (ITERS_PER_EPOCH, MAX_EPOCHS, load_meta, reported_map,
                         run, write_tiny_config)

#: Raises at a chosen iteration when the environment asks for it: a
#: deterministic stand-in for a run killed mid-epoch.
CRASH_HOOK = '''
import os
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class CrashAtIterHook(Hook):
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        crash_at = os.environ.get('CRASH_AT_ITER')
        if crash_at is not None and runner.iter + 1 == int(crash_at):
            raise RuntimeError(f'planned crash after iteration {crash_at}')
'''


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The shapes data, the tiny config and a 2-epoch run of mmdet's own
    train.py, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp('loop')
    data_root = tmp / 'shapes'
    make_shapes_dataset(str(data_root), num_train=16, num_val=8, num_test=8,
                        img_size=64, seed=0)
    work_dir = tmp / 'work'
    config = write_tiny_config(tmp, data_root, work_dir)
    run([MMDET_TOOLS / 'train.py', config])
    return dict(tmp=tmp, data_root=data_root, config=config,
                work_dir=work_dir, ckpt=work_dir / f'epoch_{MAX_EPOCHS}.pth')


def test_mmdet_train_and_test_scripts(trained):
    """mmdet's own entry points: custom_imports registers our modules, the
    checkpoints load weights-only, validation reports the COCO mAP."""
    work_dir = trained['work_dir']
    for epoch in range(1, MAX_EPOCHS + 1):
        assert (work_dir / f'epoch_{epoch}.pth').is_file()
    last = (work_dir / 'last_checkpoint').read_text().strip()
    assert Path(last) == trained['ckpt']
    meta = load_meta(trained['ckpt'])
    assert (meta['epoch'], meta['iter']) == (MAX_EPOCHS,
                                             MAX_EPOCHS * ITERS_PER_EPOCH)
    # One validation per epoch, in the JSON scalars.
    scalars = [
        json.loads(line)
        for line in next(work_dir.glob('*/vis_data/scalars.json')).open()
    ]
    maps = [s['coco/bbox_mAP'] for s in scalars if 'coco/bbox_mAP' in s]
    assert len(maps) == MAX_EPOCHS
    assert all(0 <= m <= 1 for m in maps)
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == MAX_EPOCHS * ITERS_PER_EPOCH
    assert all(torch.isfinite(torch.tensor(losses)))

    result = run([MMDET_TOOLS / 'test.py', trained['config'], trained['ckpt'],
                  '--work-dir', trained['tmp'] / 'mmdet_test'])
    assert 0 <= reported_map(result.stdout + result.stderr) <= 1


def _test(trained, ckpt, name, *extra):
    """Our tools/test.py: the reported mAP and the dumped predictions."""
    out = trained['tmp'] / f'{name}.pkl'
    result = run([
        'tools/test.py', trained['config'], ckpt, '--work-dir',
        trained['tmp'] / name, '--out', out, *extra
    ])
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    return reported_map(result.stdout + result.stderr), preds


def _assert_same_predictions(preds, ref, top=20):
    """The ``top`` best detections of each image agree: fused convs round
    differently, so compare scores sorted and boxes to their nearest match
    rather than rely on the order NMS leaves near-ties in."""
    assert len(preds) == len(ref) == 8
    # Not vacuous: the scores depend on the image.
    best = torch.stack([r['pred_instances']['scores'][0] for r in ref])
    assert best.max() - best.min() > 1e-2, best
    num_boxes = 0
    for p, r in zip(preds, ref):
        p, r = p['pred_instances'], r['pred_instances']
        k = min(len(r['scores']), top)
        num_boxes += k
        torch.testing.assert_close(p['scores'][:k], r['scores'][:k],
                                   atol=1e-4, rtol=1e-3)
        for box, label in zip(r['bboxes'][:k], r['labels'][:k]):
            same = p['labels'][:k + 5] == label
            dist = (p['bboxes'][:k + 5][same] - box).abs().amax(-1)
            assert len(dist) and dist.min() < 1e-2 + 1e-4 * box.abs().max(), (
                box, label)
    assert num_boxes > 0, 'nothing was detected: the comparison is empty'


def write_sensitive_checkpoint(config: Path, src: Path, dst: Path,
                               images: list) -> Path:
    """``src`` with random BN affine parameters, BN statistics measured on
    ``images`` and a random, well-scaled prediction layer.

    Two epochs leave a detector whose scores hardly depend on its input
    (BN statistics far from the activations', a prediction layer of init
    std 0.01) and BNs close to the identity, under which a wrong BN fold
    would go unnoticed. This checkpoint makes both count, so that the
    deployed and training forms must really agree.
    """
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(str(config)).model)
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    model.load_state_dict(ckpt['state_dict'])
    gen = torch.Generator().manual_seed(0)

    def rand(like, low, high):
        return low + (high - low) * torch.rand(like.shape, generator=gen)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(rand(m.weight, 0.5, 1.5))
                m.bias.copy_(rand(m.bias, -0.3, 0.3))
                m.reset_running_stats()
                m.momentum = None  # a plain average over the batches
        for conv in model.bbox_head.convs_pred:
            conv.weight.copy_(
                torch.randn(conv.weight.shape, generator=gen) /
                conv.weight[0].numel()**0.5)
            conv.bias.zero_()
        # RGB in [0, 1], as the data preprocessor (std 255) gives.
        batch = torch.stack([
            torch.from_numpy(cv2.imread(str(p))[..., ::-1].copy()).permute(
                2, 0, 1).float() / 255 for p in images
        ])
        model.train()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # two spin-waiting threads crawl when busy
        try:
            model(batch, mode='tensor')
        finally:
            torch.set_num_threads(threads)
    torch.save(dict(state_dict=model.state_dict(), meta=ckpt['meta']), dst)
    return dst


@pytest.fixture(scope='module')
def sensitive_ckpt(trained):
    images = sorted((trained['data_root'] / 'train').glob('*.jpg'))
    return write_sensitive_checkpoint(trained['config'], trained['ckpt'],
                                      trained['tmp'] / 'sensitive.pth',
                                      images)


@pytest.fixture(scope='module')
def reference(trained, sensitive_ckpt):
    return _test(trained, sensitive_ckpt, 'plain')


def test_deploy_flag_gives_same_map(trained, sensitive_ckpt, reference):
    ref_map, ref_preds = reference
    deploy_map, deploy_preds = _test(trained, sensitive_ckpt, 'deploy',
                                     '--deploy')
    assert abs(deploy_map - ref_map) <= 1e-3
    _assert_same_predictions(deploy_preds, ref_preds)


def test_deployed_checkpoint(trained, sensitive_ckpt, reference):
    ref_map, ref_preds = reference
    deployed = trained['tmp'] / 'deployed.pth'
    run(['tools/model_converters/parnet_deploy.py', trained['config'],
         sensitive_ckpt, deployed])
    state = torch.load(deployed, map_location='cpu',
                       weights_only=True)['state_dict']
    assert any('.reparam.' in k for k in state)
    assert not any('.dense.' in k for k in state)

    deploy_map, deploy_preds = _test(
        trained, deployed, 'deployed', '--cfg-options',
        'model.backbone.deploy=True')
    assert abs(deploy_map - ref_map) <= 1e-3
    _assert_same_predictions(deploy_preds, ref_preds)

    # Loaded into the training form, it is refused with the fix.
    result = run(['tools/test.py', trained['config'], deployed, '--work-dir',
                  trained['tmp'] / 'refused'], check=False)
    assert result.returncode != 0
    assert 'ValueError' in result.stderr
    assert 'deployed form but the model is in its training form' in \
        result.stderr
    assert 'backbone.deploy=True' in result.stderr


@pytest.mark.parametrize('kind', ['train-ckpt-deploy', 'deployed-ckpt'])
def test_infer(trained, kind):
    images = sorted((trained['data_root'] / 'test').glob('*.jpg'))[:2]
    out_dir = trained['tmp'] / f'infer-{kind}'
    if kind == 'train-ckpt-deploy':
        weights, extra = trained['ckpt'], ['--deploy']
    else:
        weights, extra = trained['tmp'] / 'deployed-for-infer.pth', []
        run(['tools/model_converters/parnet_deploy.py', trained['config'],
             trained['ckpt'], weights])
    run(['tools/infer.py', *images, '--config', trained['config'],
         '--weights', weights, '--out-dir', out_dir, '--score-thr', '0.0',
         *extra])
    for image in images:
        assert (out_dir / 'vis' / image.name).is_file()
        pred = json.loads(
            (out_dir / 'preds' / (image.stem + '.json')).read_text())
        assert len(pred['bboxes']) == len(pred['scores']) == len(
            pred['labels']) > 0
        assert all(len(box) == 4 for box in pred['bboxes'])


@pytest.mark.parametrize('script', ['ours', 'mmdet'])
def test_resume_after_crash_matches_uninterrupted_run(trained, script):
    """A run that dies mid-epoch 2 resumes (``--resume``: from the epoch-1
    checkpoint, loaded weights-only) and ends where and as the uninterrupted
    run of the `trained` fixture ended.

    mmengine resumes an epoch-based loop at the start of the epoch after the
    checkpoint: from a checkpoint saved mid-epoch (``by_epoch=False``) it
    would run that whole epoch again and end with more iterations."""
    train = 'tools/train.py' if script == 'ours' else MMDET_TOOLS / 'train.py'
    tmp = trained['tmp']
    (tmp / 'crash_hook.py').write_text(CRASH_HOOK)
    work_dir = tmp / f'work_resume_{script}'
    config = write_tiny_config(
        tmp, trained['data_root'], work_dir, name=f'tiny_crash_{script}.py',
        extra="custom_imports = dict(imports=['mmdet_parnet', 'crash_hook'], "
        "allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='CrashAtIterHook')]")
    env = dict(PYTHONPATH=os.pathsep.join(
        filter(None, [str(tmp), os.environ.get('PYTHONPATH')])))
    crash_at = ITERS_PER_EPOCH + 2  # in the middle of epoch 2
    result = run([train, config], env=dict(env, CRASH_AT_ITER=str(crash_at)),
                 check=False)
    assert result.returncode != 0
    assert f'planned crash after iteration {crash_at}' in result.stderr
    assert (work_dir / 'epoch_1.pth').is_file()
    assert not (work_dir / f'epoch_{MAX_EPOCHS}.pth').exists()

    result = run([train, config, '--resume'], env=env)
    output = result.stdout + result.stderr
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in output
    resumed = work_dir / f'epoch_{MAX_EPOCHS}.pth'
    assert Path((work_dir / 'last_checkpoint').read_text().strip()) == resumed
    meta, ref_meta = load_meta(resumed), load_meta(trained['ckpt'])
    assert (meta['epoch'], meta['iter']) == (ref_meta['epoch'],
                                             ref_meta['iter'])
    # Same data, optimizer state and LR schedule: the same weights.
    state = torch.load(resumed, map_location='cpu',
                       weights_only=True)['state_dict']
    ref = torch.load(trained['ckpt'], map_location='cpu',
                     weights_only=True)['state_dict']
    assert state.keys() == ref.keys()
    for key in ref:
        torch.testing.assert_close(state[key], ref[key], atol=1e-5,
                                   rtol=1e-4, msg=key)
