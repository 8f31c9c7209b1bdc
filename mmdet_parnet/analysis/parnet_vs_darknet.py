"""ParNet-S/M/L/XL YOLOv4 against its Darknet53 twin (same neck, head and
recipe) and mmdet's stock YOLOv3-Darknet53, in one run on one machine: one
markdown table and PNG plots.

Parts (each in docs/comparison.md, column by column):

1. Architecture: depth as the paper counts it (longest path of weighted
   layers, measured on the model's graph by mmdet_parnet.utils.depth),
   parameters and multiply-adds in training and deployed form.
2. Batch-1 latency at 640 of the backbone alone, of the detector's tensor
   forward (backbone, neck, head) and end to end (with decoding and NMS), in
   eager PyTorch (training form, deployed, deployed + channels-last) and in
   each engine of mmdet_parnet.deployment when it is there; medians of
   round-robin rounds, ratios to the Darknet53 twin. The shapes models are
   timed too, at 256, for the latency-vs-mAP plot.
3. ParNet's streams run concurrently (mmdet_parnet.utils.streams) against
   ParNet's sequential forward, batch 1 at 320 and 640, on 2 and on all
   cores.
4. Training throughput on the CPU: the shapes recipe's train step (bf16
   autocast), in-process, at 256.
5. Accuracy at an equal wall-clock budget: ParNet-S and the Darknet53 twin
   trained from scratch on the shapes data with mmdet's own train.py (as many
   iterations as the budget fits at each one's measured time per iteration,
   cosine schedule stretched to them), tested on the held-out split with
   mmdet's test.py, over several seeds.

Run it on an otherwise idle machine; ``--tiny`` (tiny widths, small inputs,
one round, a few iterations) only checks that everything runs.

Run through ``tools/analysis_tools/benchmark_parnet_vs_darknet.py``:

    python tools/analysis_tools/benchmark_parnet_vs_darknet.py
        [--work-dir outputs/parnet_vs_darknet] [--threads 2] [--rounds 5]
        [--budget-minutes 7] [--seeds 2] [--archs S M L XL]
        [--skip-training] [--skip-backends] [--skip-streams] [--tiny]
"""
import argparse
import copy
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mmdet  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ..datasets import make_shapes_dataset  # noqa: E402
from ..utils.complexity import (  # noqa: E402
    TensorForward, count_complexity, test_input_size)
from ..utils.depth import (count_depth, deployed_copy,  # noqa: E402
                                      paper_depth)
from ..utils.mmdet_tools import run_mmdet_tool  # noqa: E402
from ..utils.plot import plot_training_curves  # noqa: E402
from ..utils.timing import round_robin  # noqa: E402
from ..utils.streams import (ConcurrentStreams,  # noqa: E402
                                        split_threads)
from ..utils.work_dir import (last_checkpoint,  # noqa: E402
                                         read_metrics)

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs' / 'yolov4'
YOLOV3_CONFIG = (Path(mmdet.__file__).parent / '.mim' / 'configs' / 'yolo' /
                 'yolov3_d53_8xb8-ms-608-273e_coco.py')
TWIN = 'Darknet53 twin'
YOLOV3 = 'YOLOv3-D53 (mmdet)'
PAIR = ('ParNet-S', TWIN)  # trained at an equal budget
FORMS = ('training form', 'deployed', 'deployed, channels-last')
SCOPES = ('backbone', 'detector', 'end-to-end')
#: The Darknet53 twin's backbone, as the COCO twin config swaps it in.
DARKNET_BACKBONE = dict(type='Darknet', depth=53, out_indices=(3, 4, 5),
                        norm_eval=False)
DARKNET_NECK_IN = [256, 512, 1024]
#: --tiny: ParNet's default stream depths (so its depth stays 12) at tiny
#: widths; the necks and heads shrink too. Darknet53 has no width setting.
TINY_ARCH = dict(widths=(8, 16, 32, 32))
TINY_NECK_IN = [16, 32, 32]
TINY_V4 = dict(neck_out=[8, 16, 32], head_out=[16, 32, 64])
TINY_V3 = dict(neck_out=[32, 16, 8], head_out=[64, 32, 16])
TINY_SIZE = 64


# --- small helpers ----------------------------------------------------------

def progress(iterable, total=None, desc=''):
    """tqdm if it is installed, else mmengine's ProgressBar."""
    try:
        from tqdm import tqdm
    except ImportError:
        from mmengine.utils import ProgressBar
        items = list(iterable)
        print(desc)
        bar = ProgressBar(len(items))
        for item in items:
            yield item
            bar.update()
        print()
        return
    yield from tqdm(iterable, total=total, desc=desc, file=sys.stdout,
                    dynamic_ncols=True)


def note(text: str) -> None:
    print(f'[note] {text}', flush=True)


def physical_cores() -> int:
    """Physical cores this process may run on."""
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    if hasattr(os, 'sched_getaffinity'):
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores)


def cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median(values):
    return statistics.median(values) if values else float('nan')


def fmt(value, digits=1, suffix=''):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '—'
    return f'{value:.{digits}f}{suffix}'


def find_config(pattern: str):
    """The first config of configs/yolov4/ matching ``pattern``, or None."""
    hits = sorted(CONFIG_DIR.glob(pattern))
    return hits[0] if hits else None


def need_config(pattern: str) -> Path:
    path = find_config(pattern)
    if path is None:
        raise FileNotFoundError(f'no config configs/yolov4/{pattern}')
    return path


def build(model_cfg) -> nn.Module:
    """A detector in eval mode, default initialisation (latency does not
    depend on the weights, save for the boxes NMS is given)."""
    init_default_scope('mmdet')
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.eval()
    return model


# --- the detectors ----------------------------------------------------------

class Spec:
    """One detector: ``coco`` (its COCO config: latency at 640, complexity,
    depth) and ``shapes`` (the shapes recipe with this detector's model:
    train-step throughput; ParNet-S and the twin are trained on it)."""

    def __init__(self, name: str, coco: Config, shapes: Config) -> None:
        self.name, self.coco, self.shapes = name, coco, shapes


def shrink(model: ConfigDict) -> None:
    """--tiny: tiny widths (in place)."""
    backbone = model.backbone
    if backbone.type == 'ParNet':
        backbone.arch = dict(TINY_ARCH)
        backbone.pop('final_channels', None)
        model.neck.in_channels = list(TINY_NECK_IN)
    tiny = TINY_V3 if model.neck.type == 'YOLOV3Neck' else TINY_V4
    model.neck.out_channels = list(tiny['neck_out'])
    model.bbox_head.in_channels = list(tiny['neck_out'])
    model.bbox_head.out_channels = list(tiny['head_out'])


def set_data(cfg: Config, data_root: Path, tiny: bool) -> None:
    """Point a shapes config at ``data_root`` (absolute, so that it works
    from any folder); --tiny: small images, batches of 4, no workers, keep
    every box (a few iterations leave the scores low)."""
    root = str(data_root) + '/'
    cfg.data_root = root
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        dataset = loader.dataset
        while 'dataset' in dataset:
            dataset = dataset.dataset
        dataset.data_root = root
        if tiny:
            loader.update(batch_size=4, num_workers=0,
                          persistent_workers=False)
            for step in dataset.pipeline:
                if step['type'] == 'Resize':
                    step['scale'] = (TINY_SIZE, TINY_SIZE)
    for split in ('val', 'test'):
        evaluator = cfg.get(f'{split}_evaluator')
        if isinstance(evaluator, dict):
            evaluator.ann_file = f'{root}annotations/instances_{split}.json'
    if tiny:
        cfg.model.test_cfg.update(score_thr=0.0, conf_thr=0.0)


def make_specs(args, data_root: Path) -> list:
    """ParNet per --archs, the Darknet53 twin and the stock YOLOv3; ParNet-S
    and the twin always (they are the equal-budget pair)."""
    shapes_path = need_config('*parnet-s_*shapes*.py')
    base_shapes = Config.fromfile(str(shapes_path))
    twin_coco = Config.fromfile(str(need_config('yolov4_darknet53_*_coco.py')))
    archs = list(dict.fromkeys(['S'] + [a.upper() for a in args.archs]))
    specs = []
    for arch in archs:
        coco = Config.fromfile(
            str(need_config(f'yolov4_parnet-{arch.lower()}_*_coco.py')))
        shapes = copy.deepcopy(base_shapes)
        backbone = coco.model.backbone
        shapes.model.backbone.arch = backbone.arch
        if 'final_channels' in backbone:
            shapes.model.backbone.final_channels = backbone.final_channels
        shapes.model.neck.in_channels = list(coco.model.neck.in_channels)
        specs.append(Spec(f'ParNet-{arch}', coco, shapes))
    twin_shapes_path = find_config('*darknet53*shapes*.py')
    if twin_shapes_path is not None:
        twin_shapes = Config.fromfile(str(twin_shapes_path))
    else:
        # No shapes twin in configs/: swap the backbone exactly as the COCO
        # twin does (the configs train.py runs are dumped into the work
        # dir).
        twin_shapes = copy.deepcopy(base_shapes)
        twin_shapes.model.backbone = ConfigDict(DARKNET_BACKBONE)
        twin_shapes.model.neck.in_channels = list(DARKNET_NECK_IN)
    specs.append(Spec(TWIN, twin_coco, twin_shapes))
    v3_coco = Config.fromfile(str(YOLOV3_CONFIG))
    v3_coco.model.backbone.pop('init_cfg', None)  # no download
    v3_shapes = copy.deepcopy(base_shapes)
    v3_shapes.model = copy.deepcopy(v3_coco.model)
    v3_shapes.model.bbox_head.num_classes = len(base_shapes.classes)
    specs.append(Spec(YOLOV3, v3_coco, v3_shapes))
    for spec in specs:
        if args.tiny:
            shrink(spec.coco.model)
            shrink(spec.shapes.model)
        set_data(spec.shapes, data_root, args.tiny)
    return specs


# --- 1. depth, parameters, multiply-adds ------------------------------------

def eager_forms(detector: nn.Module) -> dict:
    """Form -> (detector, channels_last input)."""
    parnet = getattr(detector.backbone, 'channels_last', None) is not None
    if parnet:
        detector.backbone.channels_last = False
    deployed = deployed_copy(detector)
    fast = copy.deepcopy(deployed).to(memory_format=torch.channels_last)
    if parnet:
        fast.backbone.channels_last = True
    return {FORMS[0]: (detector, False), FORMS[1]: (deployed, False),
            FORMS[2]: (fast, True)}


def architecture(forms: dict, size) -> dict:
    """Depths (mmdet_parnet.utils.depth), parameters and multiply-adds of
    the backbone and the detector, training and deployed form."""
    trained, deployed = forms[FORMS[0]][0], forms[FORMS[1]][0]
    row = dict(
        paper_depth=paper_depth(trained.backbone),
        backbone_convs=count_depth(deployed.backbone),
        detector_depth=count_depth(TensorForward(deployed)))
    for form, model in (('train', trained), ('deploy', deployed)):
        row[f'backbone_params_{form}'], row[f'backbone_gmacs_{form}'] = \
            count_complexity(model.backbone, size)
        row[f'detector_params_{form}'], row[f'detector_gmacs_{form}'] = \
            count_complexity(TensorForward(model), size)
    return row


# --- 2. latency -------------------------------------------------------------

def demo_input(size, channels_last: bool):
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    meta = dict(img_shape=tuple(size), ori_shape=tuple(size),
                scale_factor=(1.0, 1.0), batch_input_shape=tuple(size),
                pad_shape=tuple(size))
    return x, [DetDataSample(metainfo=meta)]


#: ``mmdet_parnet.deployment``'s INT8 quantizer of each engine (--int8).
QUANTIZERS = dict(onnxruntime=('quantize_onnx', 'model_int8.onnx'),
                  openvino=('quantize_openvino', 'model_int8.xml'))


class BackboneOutputs(nn.Module):
    """A backbone's taps as a tuple, the graph exported for the backbone
    rows (``output_names`` as :func:`export_onnx` asks)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @property
    def output_names(self):
        return [f'tap{i}' for i in range(len(self.backbone.out_indices))]

    def forward(self, x: torch.Tensor):
        return tuple(self.backbone(x))


def engine_runs(module: nn.Module, size, threads: int, export_dir: Path,
                quick: bool = False, int8: bool = False) -> dict:
    """``module`` (deployed, tensor outputs) through every engine of
    :mod:`mmdet_parnet.deployment`: ``{row label: run}``, ``run(float32 NCHW
    array) -> arrays``. Rows: ONNX Runtime fp32, OpenVINO fp32, OpenVINO
    BF16 (when the CPU has it: the engine says what ran) and, with ``int8``,
    both engines' INT8 models, calibrated on random inputs (for speed only:
    the weights are untrained anyway). ``quick`` (--tiny) uses the faster
    TorchScript exporter. An engine that fails leaves a note, not a crash.
    """
    from mmdet_parnet import deployment
    export_dir.mkdir(parents=True, exist_ok=True)
    try:
        onnx_file = deployment.export_onnx(
            module, export_dir / 'model.onnx', tuple(size),
            exporter='torchscript' if quick else 'dynamo')
    except Exception as err:  # noqa: BLE001 (a row lost, not the study)
        note(f'ONNX export failed in {export_dir}: {type(err).__name__}: '
             f'{str(err)[:300]}')
        return {}
    runs = {}
    for name in deployment.BACKENDS:
        if name == 'pytorch':
            continue  # the eager rows are PyTorch
        try:
            model_file = onnx_file
            if name == 'openvino':
                model_file = deployment.onnx_to_openvino(
                    onnx_file, export_dir / 'model.xml')
            runs[f'{name} fp32'] = deployment.build_backend(
                name, str(model_file), 'fp32', threads)
            if name == 'openvino':
                bf16 = deployment.build_backend(name, str(model_file), 'bf16',
                                                threads)
                if 'bf16' in bf16.precision:
                    runs[f'{name} bf16'] = bf16
        except Exception as err:  # noqa: BLE001 (an engine not installed)
            note(f'no {name} rows: {type(err).__name__}: {str(err)[:200]}')
            continue
        if not int8 or name not in QUANTIZERS:
            continue
        try:
            function, file_name = QUANTIZERS[name]
            generator = np.random.default_rng(0)
            inputs = [generator.random((1, 3, *size), dtype=np.float32)
                      for _ in range(4)]
            int8_file = export_dir / file_name
            getattr(deployment, function)(model_file, int8_file, inputs)
            runs[f'{name} int8'] = deployment.build_backend(
                name, str(int8_file), 'fp32', threads)
        except Exception as err:  # noqa: BLE001
            note(f'no {name} int8 rows: {type(err).__name__}: '
                 f'{str(err)[:200]}')
    return runs


def backend_forwards(detector: nn.Module, size, threads: int,
                     export_dir: Path, quick: bool = False,
                     int8: bool = False) -> dict:
    """Engine rows of the deployed ``detector``: ``{(runtime label, scope):
    run}`` for the scopes ``'detector'`` (backbone, neck, head; raw head
    maps out) and ``'backbone'`` (the taps), see :func:`engine_runs`."""
    from mmdet_parnet import deployment
    detector = copy.deepcopy(detector)
    parts = {
        'detector': deployment.prepare_for_export(detector),
        'backbone': BackboneOutputs(detector.backbone).eval(),
    }
    runs = {}
    for scope, module in parts.items():
        for label, run in engine_runs(module, size, threads,
                                      export_dir / scope, quick,
                                      int8).items():
            runs[(label, scope)] = run
    return runs


def latency_entries(group: str, spec_name: str, forms: dict, size,
                    scopes, backends: dict, e2e_forms) -> dict:
    """``{(group, detector, runtime, scope): zero-argument call}``."""
    entries = {}
    for form, (model, channels_last) in forms.items():
        x, samples = demo_input(size, channels_last)
        if 'backbone' in scopes:
            entries[(group, spec_name, form, 'backbone')] = \
                lambda m=model, x=x: m.backbone(x)
        entries[(group, spec_name, form, 'detector')] = \
            lambda m=model, x=x: m(x, mode='tensor')
        if form in e2e_forms:
            entries[(group, spec_name, form, 'end-to-end')] = \
                lambda m=model, x=x, s=samples: m.predict(x, s)
    head = forms[FORMS[1]][0].bbox_head
    x, samples = demo_input(size, False)
    array = x.numpy()
    metas = [s.metainfo for s in samples]
    for (label, scope), run in backends.items():
        if scope not in scopes:
            continue
        entries[(group, spec_name, label, scope)] = \
            lambda r=run, a=array: r(a)
        if scope == 'detector':
            entries[(group, spec_name, label, 'end-to-end')] = \
                lambda r=run, a=array: head.predict_by_feat(
                    [torch.from_numpy(np.asarray(o)) for o in r(a)], metas,
                    rescale=True)
    return entries


def time_entries(entries: dict, rounds: int, warmup: int, desc: str) -> dict:
    """Seconds of each call in each timed round (:func:`round_robin`), with
    a progress bar."""
    with torch.inference_mode():
        return round_robin(
            entries, rounds, warmup,
            progress=lambda it: progress(it, warmup + rounds, desc))


# --- 3. concurrent streams --------------------------------------------------

def streams_study(specs, sizes, core_counts, rounds, warmup) -> list:
    """Sequential (ParNet's forward, all threads) against concurrent streams
    (each with its share), deployed + channels-last, per arch, size and
    thread count."""
    rows = []
    parnets = {}
    for spec in specs:
        if spec.coco.model.backbone.type != 'ParNet':
            continue
        init_default_scope('mmdet')
        net = MODELS.build(copy.deepcopy(spec.coco.model.backbone)).eval()
        net.switch_to_deploy()
        net.channels_last = True
        parnets[spec.name] = net
    threads_before = torch.get_num_threads()
    for cores in core_counts:
        torch.set_num_threads(cores)
        budgets = split_threads(cores)
        entries, concurrent = {}, []
        for name, net in parnets.items():
            streams = ConcurrentStreams(net, budgets)
            concurrent.append(streams)
            for size in sizes:
                x = torch.rand(1, 3, size, size)
                with torch.inference_mode():
                    same = all(
                        torch.allclose(a, b, rtol=1e-4, atol=1e-5)
                        for a, b in zip(net(x), streams(x)))
                if not same:
                    note(f'{name} at {size}: concurrent outputs differ from '
                         f'the sequential forward')
                entries[(name, size, 'sequential')] = \
                    lambda n=net, x=x: n(x)
                entries[(name, size, 'concurrent')] = \
                    lambda s=streams, x=x: s(x)
        times = time_entries(entries, rounds, warmup,
                             f'streams, {cores} threads')
        for streams in concurrent:
            streams.close()
        for name in parnets:
            for size in sizes:
                seq = median(times[(name, size, 'sequential')])
                con = median(times[(name, size, 'concurrent')])
                rows.append(dict(arch=name, size=size, threads=cores,
                                 budgets=list(budgets), sequential_ms=seq *
                                 1e3, concurrent_ms=con * 1e3,
                                 speedup=seq / con))
    torch.set_num_threads(threads_before)
    return rows


# --- 4. training throughput -------------------------------------------------

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


# --- 5. accuracy at an equal wall-clock budget ------------------------------

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


# --- report and plots -------------------------------------------------------

def latency_rows(latency: dict, group: str) -> list:
    """One row per (detector, runtime) of ``group``, ratios to the twin in
    the same runtime and scope."""
    rows = {}
    for (g, name, runtime, scope), ms in latency.items():
        if g == group:
            rows.setdefault((name, runtime), {})[scope] = ms
    twin = {runtime: scopes for (name, runtime), scopes in rows.items()
            if name.startswith(TWIN)}
    out = []
    for (name, runtime), scopes in rows.items():
        row = dict(name=name, runtime=runtime)
        for scope in SCOPES:
            ms = scopes.get(scope)
            ref = twin.get(runtime, {}).get(scope)
            row[scope] = ms
            row[f'{scope}_ratio'] = ms / ref if ms and ref else None
        out.append(row)
    return out


def report(res: dict) -> str:
    meta = res['meta']
    lines = [
        '# ParNet against Darknet53 (YOLOv4-CSP neck and head)', '',
        f'Machine: {meta["cpu"]}, {meta["cores"]} physical cores; torch '
        f'{meta["torch"]}. Command: `{meta["command"]}`.', ''
    ]
    if res.get('architecture'):
        size = meta['complexity_size']
        lines += [
            f'## Architecture (multiply-adds at {size}x{size})', '',
            '| detector | depth (paper) | backbone convs | detector depth | '
            'backbone params M (train / deployed) | backbone GMACs (train / '
            'deployed) | detector params M (train / deployed) | detector '
            'GMACs (train / deployed) |', '|---|---|---|---|---|---|---|---|'
        ]
        for name, r in res['architecture'].items():
            lines.append(
                f'| {name} | {r["paper_depth"]} | {r["backbone_convs"]} | '
                f'{r["detector_depth"]} | {r["backbone_params_train"]:.1f} / '
                f'{r["backbone_params_deploy"]:.1f} | '
                f'{r["backbone_gmacs_train"]:.1f} / '
                f'{r["backbone_gmacs_deploy"]:.1f} | '
                f'{r["detector_params_train"]:.1f} / '
                f'{r["detector_params_deploy"]:.1f} | '
                f'{r["detector_gmacs_train"]:.1f} / '
                f'{r["detector_gmacs_deploy"]:.1f} |')
        lines.append('')
    for group, title in (('coco', f'COCO configs at {meta["size"]}x'
                          f'{meta["size"]}'),
                         ('shapes', f'shapes configs at {meta["shapes_size"]}x'
                          f'{meta["shapes_size"]}')):
        rows = latency_rows(res.get('latency', {}), group)
        if not rows:
            continue
        lines += [
            f'## Latency, batch 1, {title}, {meta["threads"]} threads, median '
            f'of {meta["rounds"]} rounds (ms; x: ratio to the Darknet53 twin '
            f'in the same runtime)', '',
            '| detector | runtime | backbone ms | x | detector ms | x | '
            'end-to-end ms | x |', '|---|---|---|---|---|---|---|---|'
        ]
        for r in rows:
            cells = []
            for scope in SCOPES:
                cells += [fmt(r[scope], 1), fmt(r[f'{scope}_ratio'], 2, 'x')]
            lines.append(f'| {r["name"]} | {r["runtime"]} | ' +
                         ' | '.join(cells) + ' |')
        lines.append('')
    for note_line in res.get('notes', []):
        lines.append(f'- {note_line}')
    if res.get('notes'):
        lines.append('')
    if res.get('streams'):
        lines += [
            '## ParNet streams: concurrent against sequential (deployed, '
            'channels-last, batch 1)', '',
            '| backbone | input | threads | stream budgets | sequential ms | '
            'concurrent ms | sequential / concurrent |',
            '|---|---|---|---|---|---|---|'
        ]
        for r in res['streams']:
            lines.append(
                f'| {r["arch"]} | {r["size"]} | {r["threads"]} | '
                f'{"+".join(map(str, r["budgets"]))} | '
                f'{r["sequential_ms"]:.1f} | {r["concurrent_ms"]:.1f} | '
                f'{r["speedup"]:.2f}x |')
        lines += ['', res['streams_verdict'], '']
    if res.get('throughput'):
        t = meta['train']
        lines += [
            f'## Training throughput (shapes recipe, {t["size"]}x'
            f'{t["size"]}, batch {t["batch"]}, {t["threads"]} threads, '
            f'median of {t["iters"]} iterations)', '',
            '| detector | s / iteration (with data) | s / train step | '
            'images / s | x |', '|---|---|---|---|---|'
        ]
        ref = res['throughput'].get(TWIN, {}).get('images_per_s')
        for name, r in res['throughput'].items():
            lines.append(
                f'| {name} | {r["iteration"]:.2f} | {r["step"]:.2f} | '
                f'{r["images_per_s"]:.1f} | '
                f'{fmt(r["images_per_s"] / ref if ref else None, 2, "x")} |')
        lines.append('')
    if res.get('accuracy'):
        b = meta['budget']
        lines += [
            f'## Held-out mAP at an equal budget ({b["minutes"]:g} min of '
            f'training each, {b["seeds"]} seeds, shapes test split)', '',
            '| detector | s / iteration (probe) | iterations | train.py min '
            '(mean) | mAP (mean ± std) | mAP50 (mean ± std) | mAP per seed |',
            '|---|---|---|---|---|---|---|'
        ]
        for name, r in res['accuracy'].items():
            per_seed = ', '.join(f'{x["mAP"]:.3f}' for x in r['runs'])
            lines.append(
                f'| {name} | {r["seconds_per_iter"]:.2f} | {r["iters"]} | '
                f'{r["train_minutes_mean"]:.1f} | {r["mAP_mean"]:.3f} ± '
                f'{r["mAP_std"]:.3f} | {r["mAP50_mean"]:.3f} ± '
                f'{r["mAP50_std"]:.3f} | {per_seed} |')
        lines.append('')
    if res.get('plots'):
        lines += ['Plots: ' + ', '.join(f'`{p}`' for p in res['plots']), '']
    return '\n'.join(lines)


def plot_latency_vs_params(res: dict, out_png: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    arch = res['architecture']
    for ax, scope in zip(axes, ('backbone', 'detector')):
        by_runtime = {}
        for r in latency_rows(res['latency'], 'coco'):
            if r[scope] is None or r['name'] not in arch:
                continue
            form = 'train' if r['runtime'] == FORMS[0] else 'deploy'
            params = arch[r['name']][f'{scope}_params_{form}']
            by_runtime.setdefault(r['runtime'], []).append(
                (params, r[scope], r['name']))
        for runtime, points in by_runtime.items():
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], 'o',
                    label=runtime)
            for x, y, name in points:
                ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3),
                            textcoords='offset points')
        ax.set(xlabel='parameters (M)', ylabel='latency (ms)',
               title=f'{scope} latency vs parameters, batch 1, '
               f'{res["meta"]["size"]} px')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def plot_latency_vs_map(res: dict, out_png: Path) -> Path:
    """Held-out mAP (mean; error bars: std over seeds) against the
    tensor-forward latency of the same shapes model, one point per detector
    and runtime."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    accuracy = res.get('accuracy') or {}
    rows = [r for r in latency_rows(res.get('latency', {}), 'shapes')
            if r['name'] in accuracy and r['detector'] is not None]
    runtimes = sorted({r['runtime'] for r in rows})
    markers = dict(zip(runtimes, 'osD^v<>ph*'))
    colors = dict(zip(PAIR, ('tab:blue', 'tab:orange')))
    for r in rows:
        acc = accuracy[r['name']]
        ax.errorbar([r['detector']], [acc['mAP_mean']],
                    yerr=[acc['mAP_std']], fmt=markers[r['runtime']],
                    color=colors.get(r['name'], 'tab:gray'), capsize=3,
                    label=f'{r["name"]}, {r["runtime"]}')
    if not rows:
        ax.text(0.5, 0.5, 'no held-out mAP (training skipped)',
                ha='center', va='center', transform=ax.transAxes)
    size = res['meta']['shapes_size']
    ax.set(xlabel=f'detector latency, batch 1, {size} px (ms; no '
           f'post-processing)', ylabel='held-out COCO mAP (shapes)',
           title='Latency vs held-out mAP at an equal training budget')
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


# --- main -------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='outputs/parnet_vs_darknet',
                        help='where the table, plots, configs and runs go '
                        '(relative to the repository)')
    parser.add_argument('--archs', nargs='+', default=['S', 'M', 'L', 'XL'],
                        type=str.upper, choices=['S', 'M', 'L', 'XL'],
                        help='ParNet archs (ParNet-S is always in: it is '
                        'trained against the twin)')
    parser.add_argument('--size', type=int, default=640,
                        help='latency input size (COCO configs)')
    parser.add_argument('--threads', type=int, default=2,
                        help='intra-op threads of the latency part')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--stream-sizes', type=int, nargs='+',
                        default=[320, 640])
    parser.add_argument('--stream-threads', type=int, nargs='+',
                        help='thread counts of the streams part (default: '
                        '2 and all physical cores)')
    parser.add_argument('--train-threads', type=int,
                        help='threads of the training parts (default: '
                        'torch\'s default, what train.py gets)')
    parser.add_argument('--throughput-iters', type=int, default=8)
    parser.add_argument('--budget-minutes', type=float, default=7.0,
                        help='training time of each equal-budget run (2 '
                        'detectors x --seeds runs)')
    parser.add_argument('--seeds', type=int, default=2)
    parser.add_argument('--val-times', type=int, default=3,
                        help='validations per training run (curves)')
    parser.add_argument('--max-iters', type=int,
                        help='cap on the iterations a budget gives')
    parser.add_argument('--data-root', default='data/shapes',
                        help='shapes data (generated if missing)')
    parser.add_argument('--int8', action='store_true',
                        help='also time INT8 models of the engines '
                        '(quantized with random calibration inputs)')
    for part in ('latency', 'backends', 'streams', 'throughput', 'training'):
        parser.add_argument(f'--skip-{part}', action='store_true')
    parser.add_argument('--tiny', action='store_true',
                        help='check that it runs: tiny widths, 64 px, one '
                        'round, a few iterations, one seed')
    args = parser.parse_args()
    if args.tiny:
        args.size = TINY_SIZE
        args.rounds, args.warmup = 1, 0
        args.stream_sizes, args.stream_threads = [TINY_SIZE], [2]
        args.throughput_iters = 2
        args.budget_minutes, args.max_iters = 0.05, 4
        args.seeds, args.val_times = 1, 1
    return args


def to_json(res: dict) -> dict:
    res = dict(res)
    res['latency'] = [
        dict(group=g, name=n, runtime=r, scope=s, ms=ms)
        for (g, n, r, s), ms in res.get('latency', {}).items()
    ]
    return res


def main():
    args = parse_args()
    default_threads = torch.get_num_threads()
    train_threads = args.train_threads or default_threads
    if args.train_threads:
        os.environ['OMP_NUM_THREADS'] = str(args.train_threads)  # train.py
    out = REPO / args.work_dir
    out.mkdir(parents=True, exist_ok=True)
    if args.tiny:
        data_root = out / 'shapes'
        make_shapes_dataset(str(data_root), num_train=16, num_val=8,
                            num_test=8, img_size=TINY_SIZE, seed=0)
    else:
        data_root = REPO / args.data_root
        if not (args.skip_training and args.skip_throughput):
            make_shapes_dataset(str(data_root))
    specs = make_specs(args, data_root)
    by_name = {spec.name: spec for spec in specs}
    shapes_size = test_input_size(by_name['ParNet-S'].shapes)[0]
    res = dict(meta=dict(
        cpu=cpu_name(), cores=physical_cores(), torch=torch.__version__,
        command='python ' + ' '.join([
            str(Path(sys.argv[0]).resolve().relative_to(REPO))
            if Path(sys.argv[0]).resolve().is_relative_to(REPO) else
            sys.argv[0]
        ] + sys.argv[1:]),
        size=args.size, shapes_size=shapes_size, complexity_size=args.size,
        threads=args.threads, rounds=args.rounds), notes=[])

    res['meta']['part_minutes'] = {}
    clock = [time.time()]

    def save(part=None):
        if part:
            minutes = (time.time() - clock[0]) / 60
            res['meta']['part_minutes'][part] = round(minutes, 2)
            print(f'[{part}: {minutes:.1f} min]', flush=True)
            clock[0] = time.time()
        (out / 'results.json').write_text(
            json.dumps(to_json(res), indent=1, default=str))
        text = report(res)
        (out / 'comparison.md').write_text(text + '\n')
        return text

    # 1 and 2: architecture, latency
    torch.set_num_threads(args.threads)
    size = (args.size, args.size)
    entries = {}
    res['architecture'] = {}
    e2e_forms = (FORMS[2], )
    for spec in progress(specs, len(specs), 'building, depth, complexity'):
        forms = eager_forms(build(spec.coco.model))
        res['architecture'][spec.name] = architecture(forms, size)
        if args.skip_latency:
            continue
        slug = spec.name.split(' ')[0].lower()
        groups = [('coco', forms, size, SCOPES)]
        if spec.name in PAIR:
            shapes_forms = eager_forms(build(spec.shapes.model))
            groups.append(('shapes', shapes_forms, (shapes_size, ) * 2,
                           ('detector', 'end-to-end')))
        for group, group_forms, group_size, scopes in groups:
            backends = {}
            # --tiny: one export, enough to check the rows
            if not args.skip_backends and (not args.tiny or
                                           (spec.name, group)
                                           == ('ParNet-S', 'coco')):
                backends = backend_forwards(
                    group_forms[FORMS[1]][0], group_size, args.threads,
                    out / 'export' / f'{slug}_{group}', quick=args.tiny,
                    int8=args.int8)
            entries.update(latency_entries(group, spec.name, group_forms,
                                           group_size, scopes, backends,
                                           e2e_forms))
    save('architecture, exports')
    if entries:
        times = time_entries(entries, args.rounds, args.warmup, 'latency')
        res['latency'] = {key: median(t) * 1e3 for key, t in times.items()}
        res['notes'].append(
            'Deployed: the model\'s own switch_to_deploy (ParNet '
            're-parameterised; Darknet has nothing to switch, so its deployed '
            'rows time the same network as its training form). End to end '
            '(decoding and NMS) is timed for the fastest eager form and the '
            'engines; with untrained weights NMS gets as many boxes as '
            'nms_pre lets through, an upper bound.')
        if not any(len(k[2].split()) > 1 and k[2] not in FORMS
                   for k in res['latency']):
            res['notes'].append('No deployment-engine rows (skipped, or '
                                'mmdet_parnet.deployment not available).')
    del entries
    save('latency')

    # 3: concurrent streams
    if not args.skip_streams:
        cores = args.stream_threads or sorted({2, physical_cores()})
        rows = streams_study(specs, args.stream_sizes, cores, args.rounds,
                             args.warmup)
        res['streams'] = rows
        wins = sum(r['speedup'] > 1 for r in rows)
        verdict = (f'Concurrent streams were faster in {wins} of '
                   f'{len(rows)} cases')
        verdict += ('.' if wins else ': on this CPU they never win, so '
                    'ParNet keeps its sequential forward (the default).')
        res['streams_verdict'] = verdict + (
            ' ParNet\'s own forward stays sequential; '
            'mmdet_parnet.utils.streams.ConcurrentStreams runs the streams '
            'concurrently where that pays.' if wins else '')
        torch.set_num_threads(args.threads)
        save('streams')

    # 4: training throughput (also the probe of the equal-budget runs)
    torch.set_num_threads(train_threads)
    measured = {}
    wanted = [] if args.skip_throughput else [s.name for s in specs]
    if not args.skip_training:
        wanted += [name for name in PAIR if name not in wanted]
    warmup = 1 if args.tiny else 2
    for name in progress(wanted, len(wanted), 'train-step throughput'):
        spec = by_name[name]
        t = train_step_times(spec.shapes, args.throughput_iters, warmup)
        t['images_per_s'] = t['batch_size'] / t['step']
        measured[name] = t
    if not args.skip_throughput:
        res['throughput'] = measured
    res['meta']['train'] = dict(
        size=shapes_size, threads=train_threads, iters=args.throughput_iters,
        batch=by_name['ParNet-S'].shapes.train_dataloader.batch_size)
    save('train-step throughput')

    # 5: accuracy at an equal wall-clock budget
    if not args.skip_training:
        res['meta']['budget'] = dict(minutes=args.budget_minutes,
                                     seeds=args.seeds)
        res['accuracy'] = equal_budget(by_name, measured, args, out)
        save('equal-budget training')

    # plots
    plots = []
    if res.get('latency'):
        plots.append(
            plot_latency_vs_params(res, out / 'latency_vs_params.png'))
        plots.append(plot_latency_vs_map(res, out / 'latency_vs_map.png'))
    if res.get('accuracy'):
        plots.append(plot_training_curves(
            {f'{name} seed {run["seed"]}': run['work_dir']
             for name, entry in res['accuracy'].items()
             for run in entry['runs']}, out / 'training_curves.png'))
    res['plots'] = [str(Path(p).relative_to(out)) for p in plots]
    print('\n' + save())
    print(f'\nTable: {out / "comparison.md"}; plots and results.json in {out}')

