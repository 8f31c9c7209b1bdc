"""Our YOLOv4 neck and head against mmdet's stock YOLOv3 neck and head, on the
same ParNet-S backbone, shapes data, input size and wall-clock budget.

The budget is that of the YOLOv4 demo config as it stands (its epochs at its
measured time per iteration). The YOLOv3 model is timed on a few iterations
and given as many whole epochs as fit the same time (its cosine schedule
stretched to them); both train from scratch with mmdet's own
``tools/train.py`` with the same optimizer, schedule shape, data and input
size, and are evaluated on the held-out split with mmdet's ``tools/test.py``.
``--ours-work-dir`` reuses a finished training of the YOLOv4 config (the
demo's, ``outputs/demo/train``) instead of training it again. Run it on an
otherwise idle machine.

Usage:
    python tools/analysis_tools/benchmark_yolov4_vs_yolov3.py
        [--ours-work-dir outputs/demo/train] [--out-dir outputs/head_benchmark]
"""
import argparse
import statistics
from pathlib import Path

from mmengine.config import Config

from mmdet_parnet.datasets import make_shapes_dataset
from mmdet_parnet.utils.mmdet_tools import run_mmdet_tool
from mmdet_parnet.utils.work_dir import (iter_times, last_checkpoint,
                                         latest_run, read_metrics)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    'YOLOv4 neck + head (ours)':
    'configs/yolov4/yolov4_parnet-s_pafpn-csp_1xb8-256-6e_shapes.py',
    'YOLOv3 neck + head (mmdet, stock)':
    'configs/yolov3/yolov3_parnet-s_1xb8-256-6e_shapes.py',
}
PROBE_ITERS = 20  # mmengine logs the mean time of the last 10 iterations


def with_epochs(cfg: Config, epochs: int) -> Config:
    """``cfg`` trained for ``epochs`` epochs, its cosine decay stretched to
    them."""
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler[-1].update(T_max=epochs, end=epochs)
    return cfg


def seconds_per_iter(config: str, work_dir: Path) -> float:
    """Mean time of a training iteration over the last 10 of a short probe
    run (the first iterations warm up)."""
    cfg = Config.fromfile(REPO / config)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=PROBE_ITERS)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=10**6)
    path = work_dir / 'probe.py'
    cfg.dump(path)
    with open(work_dir / 'probe.log', 'w') as log:
        run_mmdet_tool('train.py', path, '--work-dir', work_dir / 'probe',
                       cwd=REPO, log=log)
    return iter_times((work_dir / 'probe.log').read_text())[-1]


def train_and_test(config: Path, work_dir: Path, test_dir: Path,
                   train=True) -> tuple:
    """Train in ``work_dir`` with mmdet's train.py (unless already done),
    test with its test.py: (minutes of training, metrics)."""
    if train:
        with open(work_dir / 'train.log', 'w') as log:
            seconds = run_mmdet_tool('train.py', config, '--work-dir',
                                     work_dir, cwd=REPO, log=log)
    else:
        run = latest_run(work_dir, 'vis_data/scalars.json')
        # from the run folder's creation to the last validation
        seconds = ((run / 'vis_data/scalars.json').stat().st_mtime -
                   run.stat().st_ctime)
    checkpoint = last_checkpoint(work_dir)
    with open(test_dir / 'test.log', 'w') as log:
        run_mmdet_tool('test.py', config, checkpoint, '--work-dir', test_dir,
                       cwd=REPO, log=log)
    return seconds / 60, read_metrics(test_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', default='outputs/head_benchmark')
    parser.add_argument('--ours-work-dir',
                        help='a finished training of the YOLOv4 config')
    args = parser.parse_args()
    make_shapes_dataset(REPO / 'data/shapes')
    out = REPO / args.out_dir
    (ours_name, ours), (base_name, base) = CONFIGS.items()
    rows = []

    test_dir = out / Path(ours).stem / 'test'
    work_dir = (Path(args.ours_work_dir) if args.ours_work_dir else
                out / Path(ours).stem / 'train')
    for folder in (test_dir, work_dir):
        folder.mkdir(parents=True, exist_ok=True)
    minutes, metrics = train_and_test(REPO / ours, work_dir, test_dir,
                                      train=args.ours_work_dir is None)
    run = latest_run(work_dir, '{run}.log')  # the training run's log
    ours_sec = statistics.median(iter_times(
        (run / f'{run.name}.log').read_text()))
    ours_epochs = Config.fromfile(REPO / ours).train_cfg.max_epochs
    rows.append((ours_name, ours_sec, ours_epochs, minutes, metrics))

    work_dir, test_dir = (out / Path(base).stem / name
                          for name in ('train', 'test'))
    for folder in (test_dir, work_dir):
        folder.mkdir(parents=True, exist_ok=True)
    base_sec = seconds_per_iter(base, work_dir)
    epochs = max(1, round(ours_epochs * ours_sec / base_sec))
    path = work_dir / 'budget.py'
    with_epochs(Config.fromfile(REPO / base), epochs).dump(path)
    minutes, metrics = train_and_test(path, work_dir, test_dir)
    rows.append((base_name, base_sec, epochs, minutes, metrics))

    reference = rows[-1][4]['coco/bbox_mAP']
    print('\nHeld-out shapes split (200 images), same training time:\n')
    print('| neck + head | s/iter | epochs | train.py minutes | mAP | mAP50 '
          '| mAP vs YOLOv3 |')
    print('|---|---|---|---|---|---|---|')
    for name, sec, epochs, minutes, m in rows:
        print(f'| {name} | {sec:.2f} | {epochs} | {minutes:.1f} | '
              f'{m["coco/bbox_mAP"]:.3f} | {m["coco/bbox_mAP_50"]:.3f} | '
              f'{m["coco/bbox_mAP"] / max(reference, 1e-9):.2f}x |')


if __name__ == '__main__':
    main()
