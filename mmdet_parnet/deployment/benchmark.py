"""CPU latency (and held-out mAP) of one detector config and its Darknet53
twin across runtimes and precisions, timed round-robin in one process.

Used by ``tools/analysis_tools/benchmark_deployment.py``.
"""
import copy
import json
import statistics
from pathlib import Path
from typing import Dict, List, Optional

import mmcv
import numpy as np
import torch
from mmengine.config import Config

from ..utils.complexity import count_complexity, matmul_peak_gmacs
from ..utils.darknet_twin import darknet_twin
from ..utils.timing import round_robin
from .backends import require
from .evaluation import evaluate
from .runtime import DeployedDetector
from .workflow import export_detector, quantize_detector, set_test_size

VARIANTS = ('eager-training', 'eager-deployed', 'eager-channels-last',
            'compile', 'ort-fp32', 'ort-int8', 'ov-fp32', 'ov-bf16',
            'ov-int8')
LABELS = {
    'eager-training': 'PyTorch eager, training form',
    'eager-deployed': 'PyTorch eager, deployed',
    'eager-channels-last': 'PyTorch eager, deployed, channels-last',
    'compile': 'torch.compile (deployed, channels-last)',
    'ort-fp32': 'ONNX Runtime fp32',
    'ort-int8': 'ONNX Runtime INT8 (static QDQ)',
    'ov-fp32': 'OpenVINO fp32',
    'ov-bf16': 'OpenVINO BF16',
    'ov-int8': 'OpenVINO INT8 (NNCF)',
}
BASELINE = 'eager-deployed'


def square_test_pipeline(cfg: Config, size: int) -> Config:
    """Resize to ``size`` (keep ratio) and pad to ``size`` x ``size``, so
    that every runtime (static ONNX / IR models too) sees the same input."""
    set_test_size(cfg, (size, size))
    pipeline = cfg.test_dataloader.dataset.pipeline
    kinds = [step['type'].split('.')[-1] for step in pipeline]
    if 'Pad' not in kinds:
        pipeline.insert(
            kinds.index('Resize') + 1,
            dict(type='Pad', size=(size, size),
                 pad_val=dict(img=(114, 114, 114))))
    return cfg


def build_variants(name: str, cfg: Config, checkpoint: Optional[str],
                   out_dir: Path, variants, threads: int,
                   calib_images: int, calib_dir: Optional[str]) -> Dict:
    """variant key -> DeployedDetector of one model."""
    detectors = {}
    pytorch = dict(eager_training=dict(form='training'),
                   eager_deployed=dict(),
                   eager_channels_last=dict(channels_last=True),
                   compile=dict(channels_last=True, compile=True))
    for key, kwargs in pytorch.items():
        key = key.replace('_', '-')
        if key in variants:
            detectors[key] = DeployedDetector(checkpoint, cfg, 'pytorch',
                                              threads=threads, **kwargs)
    backends = [b for b, keys in (('onnxruntime', ('ort-fp32', 'ort-int8')),
                                  ('openvino', ('ov-fp32', 'ov-bf16',
                                                'ov-int8')))
                if set(keys) & set(variants)]
    if not backends:
        return detectors
    files, _, _ = export_detector(cfg, checkpoint, out_dir / name, backends)
    int8 = {}
    if {'ort-int8', 'ov-int8'} & set(variants):
        wanted = {b: f for b, f in files.items()
                  if {'onnxruntime': 'ort-int8',
                      'openvino': 'ov-int8'}[b] in variants}
        int8 = quantize_detector(cfg, wanted, out_dir / name, calib_images,
                                 calib_dir)
    specs = {
        'ort-fp32': ('onnxruntime', files.get('onnxruntime'), 'fp32'),
        'ort-int8': ('onnxruntime', int8.get('onnxruntime'), 'fp32'),
        'ov-fp32': ('openvino', files.get('openvino'), 'fp32'),
        'ov-bf16': ('openvino', files.get('openvino'), 'bf16'),
        'ov-int8': ('openvino', int8.get('openvino'), 'fp32'),
    }
    for key, (backend, model_file, precision) in specs.items():
        if key in variants and model_file is not None:
            detectors[key] = DeployedDetector(model_file, cfg, backend,
                                              precision=precision,
                                              threads=threads)
    return detectors


def time_round_robin(detectors: Dict[tuple, DeployedDetector],
                     image: np.ndarray, rounds: int,
                     warmup: int) -> Dict[tuple, dict]:
    """Median and min seconds of the model alone (pre-processed input) and
    end to end (BGR image in memory -> boxes: pre-processing, model,
    decoding, NMS), one call of each per round (:func:`round_robin`)."""
    calls = {}
    for key, det in detectors.items():
        inputs = det.prepare_inputs(image)
        det.backend(inputs)  # first calls (torch.compile builds)
        det.predict([image])
        calls[(key, 'model')] = lambda d=det, x=inputs: d.backend(x)
        calls[(key, 'e2e')] = lambda d=det: d.predict([image])

    def rounds_printed(iterable):
        for round_ in iterable:
            yield round_
            print(f'  round {round_ + 1}/{warmup + rounds}', flush=True)

    times = round_robin(calls, rounds, warmup, progress=rounds_printed)
    return {
        key: dict(model_ms=statistics.median(times[(key, 'model')]) * 1e3,
                  model_min_ms=min(times[(key, 'model')]) * 1e3,
                  e2e_ms=statistics.median(times[(key, 'e2e')]) * 1e3)
        for key in detectors
    }


def time_postprocess(detector: DeployedDetector, image: np.ndarray,
                     rounds: int = 5) -> dict:
    """Decoding + NMS alone, at COCO's test thresholds (score and
    objectness 0.001, ``nms_pre`` 1000), on the model's maps for ``image``
    and on maps whose objectness and class logits are all 0 (every score
    0.25: every prior and class passes, the worst case): the head's
    ``predict_by_feat``; and its candidate selection (``topk_scores``)
    against mmdet's ``filter_scores_and_topk`` on random scores of every
    prior and class."""
    from mmdet.models.utils import filter_scores_and_topk

    from ..models import topk_scores
    inputs, samples = detector.preprocess([detector.load(image)])
    maps = [torch.from_numpy(o) for o in detector.backend(inputs)]
    head = detector.head
    worst = []
    for m in maps:
        m = m.clone()
        channel = torch.arange(m.size(1)) % head.num_attrib
        m[:, channel >= 4] = 0
        worst.append(m)
    metas = [s.metainfo for s in samples]
    coco = dict(copy.deepcopy(head.test_cfg), score_thr=0.001,
                conf_thr=0.001, nms_pre=1000)
    calls = {}
    for maps_name, pred_maps in (('model output', maps),
                                 ('every score 0.25', worst)):
        calls[(maps_name, 'head predict_by_feat (top-k)')] = \
            lambda p=pred_maps: head.predict_by_feat(p, metas, coco)
    # distinct scores, as a trained model gives (all-equal scores are the
    # top-k's worst case: every one ties with the cut and is sorted)
    scores = torch.rand(sum(m[0, 0].numel() for m in maps) *
                        head.num_base_priors, head.num_classes,
                        generator=torch.Generator().manual_seed(0))
    for name, select in (('mmdet filter_scores_and_topk',
                          filter_scores_and_topk),
                         ('topk_scores', topk_scores)):
        calls[('random scores', f'selection alone: {name}')] = \
            lambda f=select: f(scores, 0.001, 1000)
    times = round_robin(calls, rounds, warmup=0, settle_s=0)
    return {key: statistics.median(t) * 1e3 for key, t in times.items()}


def markdown_table(results: Dict[tuple, dict], models: List[str],
                   variants, gmacs: Dict[str, float]) -> str:
    """One row per (model, runtime); GMAC/s = the model's multiply-adds
    (``gmacs``, G per image) over its median model time."""
    lines = [
        '| model | runtime | runs | model ms | end-to-end ms | '
        'model vs eager deployed | ParNet / Darknet53 (model) | GMAC/s | '
        'mAP | mAP50 |', '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for model in models:
        base = results.get((model, BASELINE))
        for key in variants:
            row = results.get((model, key))
            if row is None:
                continue
            vs_base = f'{row["model_ms"] / base["model_ms"]:.2f}x' \
                if base else '-'
            ratio = ''
            other = results.get((models[-1], key))
            if model == models[0] and len(models) > 1 and other:
                ratio = f'{row["model_ms"] / other["model_ms"]:.2f}x'
            map_ = f'{row["mAP"]:.3f}' if row.get('mAP') is not None \
                else '-'
            map50 = f'{row["mAP50"]:.3f}' if row.get('mAP50') is not None \
                else '-'
            rate = gmacs.get(model, 0) / row['model_ms'] * 1e3
            lines.append(
                f'| {model} | {LABELS[key]} | {row["precision"]} | '
                f'{row["model_ms"]:.1f} | {row["e2e_ms"]:.1f} | {vs_base} | '
                f'{ratio} | {rate:.0f} | {map_} | {map50} |')
    return '\n'.join(lines)


def compute_ceiling(results: Dict[tuple, dict], models: Dict[str, tuple],
                    gmacs: Dict[str, float], threads: int) -> str:
    """What this CPU's arithmetic allows: its fp32 and bf16 matrix-product
    rates (:func:`matmul_peak_gmacs`), against the first model's
    multiply-adds and eager time, and the rate a 1.5x faster fp32 path would
    need."""
    fp32 = matmul_peak_gmacs(threads)
    bf16 = matmul_peak_gmacs(threads, torch.bfloat16)
    name = next(iter(models))
    text = (f'Compute ceiling: an n x n matrix product (n = 2048, best of 5, '
            f'{threads} threads) runs {fp32:.0f} G multiply-adds/s in fp32 '
            f'and {bf16:.0f} in bf16 on this CPU. {name} is '
            f'{gmacs[name]:.1f} GMAC per image: {gmacs[name] / fp32 * 1e3:.0f}'
            f' ms at the fp32 rate.')
    base = results.get((name, BASELINE))
    if base:
        need = gmacs[name] / (base['model_ms'] / 1.5) * 1e3
        text += (f' An fp32 path 1.5x faster than eager deployed '
                 f'({base["model_ms"]:.0f} ms) would need {need:.0f} GMAC/s, '
                 f'{need / fp32:.2f}x the fp32 rate.')
    return text


def plot(results: Dict[tuple, dict], out_png: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with_map = {k: v for k, v in results.items() if v.get('mAP') is not None}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    if with_map:
        for (model, key), row in with_map.items():
            ax.scatter(row['e2e_ms'], row['mAP'],
                       marker='o' if 'ParNet' in model else 's')
            ax.annotate(f'{model}: {LABELS[key]}',
                        (row['e2e_ms'], row['mAP']), fontsize=7,
                        xytext=(4, 3), textcoords='offset points')
        ax.set(xlabel='end-to-end latency, median ms (batch 1)',
               ylabel='held-out COCO mAP', title=title)
    else:
        names = [f'{m}: {LABELS[k]}' for m, k in results]
        ax.barh(names, [r['e2e_ms'] for r in results.values()],
                label='end to end')
        ax.barh(names, [r['model_ms'] for r in results.values()],
                label='model only')
        ax.set(xlabel='median ms (batch 1)', title=title)
        ax.legend()
        ax.tick_params(axis='y', labelsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def run_benchmark(config: str,
                  checkpoint: Optional[str] = None,
                  twin_checkpoint: Optional[str] = None,
                  size: int = 640,
                  threads: int = 2,
                  rounds: int = 10,
                  warmup: int = 2,
                  variants=VARIANTS,
                  image: str = 'data/demo/demo.jpg',
                  calib_images: int = 300,
                  calib_dir: Optional[str] = None,
                  with_map: bool = True,
                  max_images: Optional[int] = None,
                  twin: bool = True,
                  out_dir: str = 'outputs/deploy_benchmark') -> dict:
    """Build, time, evaluate and report; returns the results."""
    from .export import load_config, load_detector, prepare_for_export
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f'unknown variants {sorted(unknown)}; choose from '
                         f'{VARIANTS}')
    if {'ov-fp32', 'ov-bf16', 'ov-int8'} & set(variants):
        require('openvino', 'for the OpenVINO rows')
    torch.set_num_threads(threads)
    out = Path(out_dir) / f'{size}'
    cfg = square_test_pipeline(load_config(config), size)
    models = {'ParNet-S-YOLOv4' if cfg.model.backbone.type == 'ParNet' else
              Path(config).stem: (cfg, checkpoint)}
    if twin:
        models['Darknet53-YOLOv4 (twin)'] = (darknet_twin(cfg),
                                             twin_checkpoint)
    detectors = {}
    for name, (model_cfg, ckpt) in models.items():
        weights = f'weights {ckpt}' if ckpt else 'random weights'
        print(f'Building {name} ({weights})')
        for key, det in build_variants(name.split()[0], model_cfg, ckpt, out,
                                       variants, threads, calib_images,
                                       calib_dir).items():
            detectors[(name, key)] = det
    image_array = mmcv.imread(image)
    print(f'Timing {len(detectors)} detectors, {rounds} rounds after '
          f'{warmup} warm-up rounds, {threads} threads, {size}x{size}')
    results = time_round_robin(detectors, image_array, rounds, warmup)
    for key, det in detectors.items():
        results[key]['precision'] = det.precision
    if with_map:
        for (name, key), det in detectors.items():
            if models[name][1] is None:
                continue
            print(f'Evaluating {name}: {LABELS[key]}', flush=True)
            metrics = evaluate(det, max_images)
            results[(name, key)]['mAP'] = float(
                next(v for k, v in metrics.items() if k.endswith('bbox_mAP')))
            results[(name, key)]['mAP50'] = float(
                next(v for k, v in metrics.items()
                     if k.endswith('bbox_mAP_50')))
    first = next((det for (_, key), det in detectors.items()
                  if key == BASELINE), next(iter(detectors.values())))
    post = time_postprocess(first, image_array)
    order = [k for k in VARIANTS if k in variants]
    gmacs = {}
    for name, (model_cfg, _) in models.items():
        _, model = load_detector(model_cfg, None, 'deployed')
        gmacs[name] = count_complexity(prepare_for_export(model),
                                       (size, size))[1]
    table = markdown_table(results, list(models), order, gmacs)
    ceiling = compute_ceiling(results, models, gmacs, threads)
    header = (f'Batch 1, {size}x{size}, {threads} threads, median of {rounds} '
              f'rounds, round-robin (torch {torch.__version__}); end to end = '
              f'BGR image in memory to boxes (pre-processing, model, '
              f'decoding, NMS).')
    post_lines = '\n'.join(f'| {cfg_name} | {name} | {ms:.1f} |'
                           for (cfg_name, name), ms in post.items())
    text = (f'{header}\n\n{table}\n\n{ceiling}\n\nDecoding + NMS alone at '
            f'score_thr '
            f'0.001 ({first!r}):\n\n| raw maps | path | median ms |\n'
            f'|---|---|---|\n{post_lines}\n')
    print('\n' + text)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'benchmark.md').write_text(text)
    (out / 'benchmark.json').write_text(json.dumps(
        [dict(model=m, variant=k, label=LABELS[k], **v)
         for (m, k), v in results.items()], indent=1))
    png = plot(results, out / 'latency_vs_map.png',
               f'Batch 1, {size}x{size}, {threads} threads')
    print(f'Wrote {out / "benchmark.md"}, {out / "benchmark.json"} and '
          f'{png}')
    return results
