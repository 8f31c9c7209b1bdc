"""Parts 4 and 5: training throughput on the CPU, and held-out mAP at an
equal wall-clock budget (mmdet's own train.py and test.py)."""
import copy
import logging
import math
import statistics
import time
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from ...utils.mmdet_tools import run_mmdet_tool
from ...utils.work_dir import last_checkpoint, read_metrics
from .common import PAIR, REPO, median, progress


def train_step_times(cfg: Config, iters: int, warmup: int,
                     seed: int = 0) -> dict:
    """Seconds per iteration of the config's train step (data preprocessor,
    forward, loss, backward, optimizer step; the config's optim wrapper, so
    bf16 autocast when it says so), in this process, data loaded live by the
    config's train loader: ``iteration`` (waiting for data included) and
    ``step`` (without it)."""
    init_default_scope('mmdet')
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.train()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # one line per parameter otherwise
    try:
        optim_wrapper = build_optim_wrapper(model,
                                            copy.deepcopy(cfg.optim_wrapper))
    finally:
        logger.setLevel(level)
    loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader),
                                     seed=seed)
    batches = iter(loader)
    step_times, iter_times = [], []
    for i in range(warmup + iters):
        start = time.perf_counter()
        try:
            data = next(batches)
        except StopIteration:
            batches = iter(loader)
            data = next(batches)
        loaded = time.perf_counter()
        model.train_step(data, optim_wrapper)
        end = time.perf_counter()
        if i >= warmup:
            step_times.append(end - loaded)
            iter_times.append(end - start)
    del batches, loader
    return dict(iteration=median(iter_times), step=median(step_times),
                batch_size=cfg.train_dataloader.batch_size)


def budget_config(cfg: Config, iters: int, seed: int,
                  val_times: int) -> Config:
    """``cfg`` trained for ``iters`` iterations (iteration-based loop,
    warm-up and cosine decay stretched to them), validated ``val_times``
    times, one checkpoint at the end, seeded."""
    cfg = copy.deepcopy(cfg)
    cfg.train_cfg = ConfigDict(
        type='IterBasedTrainLoop', max_iters=iters,
        val_interval=max(1, math.ceil(iters / max(1, val_times))))
    schedulers = []
    for sched in cfg.get('param_scheduler') or []:
        if sched['type'] == 'LinearLR':
            schedulers.append(dict(
                type='LinearLR', start_factor=sched['start_factor'],
                by_epoch=False, begin=0,
                end=max(1, min(sched.get('end', 50), iters // 5))))
        elif sched['type'] == 'CosineAnnealingLR':
            schedulers.append(dict(
                type='CosineAnnealingLR', eta_min=sched.get('eta_min', 0),
                by_epoch=False, begin=0, T_max=iters, end=iters))
    cfg.param_scheduler = schedulers
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=iters, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook',
                                    interval=max(1, min(10, iters // 5)))
    cfg.log_processor = dict(type='LogProcessor', window_size=10,
                             by_epoch=False)
    cfg.randomness = dict(seed=seed)
    return cfg


def tool_run(tool: str, log_file: Path, *args) -> float:
    """mmdet's own tool; on failure, the end of its log."""
    with open(log_file, 'w') as log:
        try:
            return run_mmdet_tool(tool, *args, cwd=REPO, log=log)
        except Exception:
            log.flush()
            print(log_file.read_text()[-3000:])
            raise


def equal_budget(specs: dict, times: dict, args, out: Path) -> dict:
    """Train the pair with mmdet's train.py, each for as many iterations as
    the budget fits, ``args.seeds`` seeds; test on the held-out split."""
    budget_s = args.budget_minutes * 60
    results = {}
    runs = [(name, seed) for seed in range(args.seeds) for name in PAIR]
    for name, seed in progress(runs, len(runs), 'equal-budget training'):
        spec = specs[name]
        sec = times[name]['iteration']
        iters = max(2, int(budget_s / sec))
        if args.max_iters:
            iters = min(iters, args.max_iters)
        stem = f'{name.replace(" ", "_").lower()}_seed{seed}'
        work_dir, test_dir = out / 'train' / stem, out / 'test' / stem
        for folder in (work_dir, test_dir):
            folder.mkdir(parents=True, exist_ok=True)
        cfg = budget_config(spec.shapes, iters, seed, args.val_times)
        cfg.work_dir = str(work_dir)
        config = out / 'configs' / f'{stem}.py'
        config.parent.mkdir(parents=True, exist_ok=True)
        cfg.dump(str(config))
        seconds = tool_run('train.py', work_dir / 'train.log', config,
                           '--work-dir', work_dir)
        tool_run('test.py', test_dir / 'test.log', config,
                 last_checkpoint(work_dir), '--work-dir', test_dir)
        metrics = read_metrics(test_dir)
        entry = results.setdefault(name, dict(
            seconds_per_iter=sec, iters=iters, runs=[]))
        entry['runs'].append(dict(
            seed=seed, train_minutes=seconds / 60, work_dir=str(work_dir),
            mAP=metrics.get('coco/bbox_mAP', float('nan')),
            mAP50=metrics.get('coco/bbox_mAP_50', float('nan'))))
    for entry in results.values():
        for key in ('mAP', 'mAP50'):
            values = [r[key] for r in entry['runs']]
            entry[f'{key}_mean'] = statistics.fmean(values)
            entry[f'{key}_std'] = (statistics.stdev(values)
                                   if len(values) > 1 else 0.0)
        entry['train_minutes_mean'] = statistics.fmean(
            r['train_minutes'] for r in entry['runs'])
    return results
