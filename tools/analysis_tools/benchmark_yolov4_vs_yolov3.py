"""Our YOLOv4 neck and head against mmdet's stock YOLOv3 neck and head, on the
same ParNet-S backbone, shapes data, input size and wall-clock budget.

For each config the script times a few training iterations, gives the model
as many whole epochs as fit the budget (warm-up 1 epoch, cosine decay to the
end), trains it from scratch with mmdet's own ``tools/train.py``, evaluates
the held-out split with mmdet's ``tools/test.py`` and prints a table. Run it
on an otherwise idle machine; it takes about twice the budget.

Usage:
    python tools/analysis_tools/benchmark_yolov4_vs_yolov3.py
        [--budget-min 10] [--out-dir outputs/head_benchmark]
"""
import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import mmdet
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
CONFIGS = {
    'YOLOv4 neck + head (ours)':
    'configs/yolov4/yolov4_parnet-s_pafpn-csp_1xb16-10m_shapes.py',
    'YOLOv3 neck + head (mmdet, stock)':
    'configs/yolov3/yolov3_parnet-s_1xb16-10m_shapes.py',
}
PROBE_ITERS = 12


def mmdet_tool(name, *args, log=None) -> float:
    """Run one of mmdet's own scripts; return its wall time in seconds."""
    start = time.time()
    subprocess.run([sys.executable, str(MMDET_TOOLS / name), *map(str, args)],
                   cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.time() - start


def with_epochs(cfg: Config, epochs: int) -> Config:
    """``cfg`` trained for ``epochs`` epochs with its warm-up and cosine
    decay stretched to them, validating only at the end."""
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    warmup, cosine = cfg.param_scheduler
    warmup.end = 1
    cosine.update(begin=1, T_max=max(epochs - 1, 1), end=epochs)
    return cfg


def seconds_per_iter(config: str, work_dir: Path) -> float:
    """Median time of a training iteration, from a short probe run."""
    cfg = Config.fromfile(REPO / config)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=PROBE_ITERS,
                         val_interval=10**6)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=10**6)
    path = work_dir / 'probe.py'
    cfg.dump(path)
    with open(work_dir / 'probe.log', 'w') as log:
        mmdet_tool('train.py', path, '--work-dir', work_dir / 'probe',
                   log=log)
    times = [float(t) for t in re.findall(
        r'Iter\(train\) \[\s*\d+/\d+\].*?  time: ([\d.]+)',
        (work_dir / 'probe.log').read_text())]
    times = sorted(times[2:])  # the first iterations warm up
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--budget-min', type=float, default=10.0)
    parser.add_argument('--out-dir', default='outputs/head_benchmark')
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from mmdet_parnet.datasets import make_shapes_dataset
    make_shapes_dataset(REPO / 'data/shapes')
    out = REPO / args.out_dir
    rows = []
    for name, config in CONFIGS.items():
        work_dir = out / Path(config).stem
        work_dir.mkdir(parents=True, exist_ok=True)
        sec = seconds_per_iter(config, work_dir)
        cfg = Config.fromfile(REPO / config)
        iters_per_epoch = -(-1000 // cfg.train_dataloader.batch_size)
        epochs = max(1, round(args.budget_min * 60 /
                              (sec * iters_per_epoch)))
        path = work_dir / 'budget.py'
        with_epochs(cfg, epochs).dump(path)
        with open(work_dir / 'train.log', 'w') as log:
            train_s = mmdet_tool('train.py', path, '--work-dir', work_dir,
                                 log=log)
        checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
        with open(work_dir / 'test.log', 'w') as log:
            mmdet_tool('test.py', path, checkpoint, '--work-dir',
                       work_dir / 'test', log=log)
        run = sorted((work_dir / 'test').glob('*/*.json'))[-1]
        metrics = json.loads(run.read_text())
        rows.append((name, sec, epochs, train_s / 60, metrics))
    base = rows[-1][4]['coco/bbox_mAP']
    print(f'\nHeld-out shapes split, budget {args.budget_min:g} min of '
          f'training each:\n')
    print('| neck + head | s/iter | epochs | train min | mAP | mAP50 | '
          'mAP vs YOLOv3 |')
    print('|---|---|---|---|---|---|---|')
    for name, sec, epochs, minutes, m in rows:
        print(f'| {name} | {sec:.2f} | {epochs} | {minutes:.1f} | '
              f'{m["coco/bbox_mAP"]:.3f} | {m["coco/bbox_mAP_50"]:.3f} | '
              f'{m["coco/bbox_mAP"] / max(base, 1e-9):.2f}x |')


if __name__ == '__main__':
    main()
