"""ParNet-S/M/L/XL YOLOv4 against its Darknet53 twin and mmdet's stock
YOLOv3-Darknet53 on one machine, one markdown table and PNG plots.

The command line: runs the parts in order, saving ``results.json`` and the
table after each; ``--report-only`` renders the table and plots again from
a saved ``results.json``.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from ...datasets import make_shapes_dataset
from ...utils.complexity import test_input_size
from .common import (
    FORMS, PAIR, REPO, SCOPES, TINY_SIZE, cpu_name, median, physical_cores,
    progress)
from .detectors import architecture, build, eager_forms, make_specs
from .latency import backend_forwards, latency_entries, time_entries
from .report import from_json, report, to_json, write_plots
from .stream_concurrency import streams_study
from .training import equal_budget, train_step_times


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
    parser.add_argument('--reuse-skipped', action='store_true',
                        help='take the parts left out with --skip-* from '
                        'the work dir\'s results.json of an earlier run')
    parser.add_argument('--report-only', action='store_true',
                        help='render the table and plots again from the '
                        'work dir\'s results.json; measure nothing')
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


def load_results(out: Path, flag: str) -> dict:
    """The work dir's saved results (``results.json``), for ``flag``."""
    saved = out / 'results.json'
    if not saved.is_file():
        raise SystemExit(f'{flag}: {saved} does not exist; run the study '
                         f'into this --work-dir first')
    return from_json(json.loads(saved.read_text()))


def save_results(res: dict, out: Path) -> str:
    """``results.json`` and the table ``comparison.md``; returns the
    table."""
    (out / 'results.json').write_text(
        json.dumps(to_json(res), indent=1, default=str))
    text = report(res)
    (out / 'comparison.md').write_text(text + '\n')
    return text


def rewrite_report(out: Path) -> None:
    """The table and plots again from ``out/results.json``."""
    res = load_results(out, '--report-only')
    res['plots'] = write_plots(res, out)
    print(save_results(res, out))


#: What each --skip-* part writes: result keys and meta keys.
PART_KEYS = dict(latency=(('latency', ), ()),
                 streams=(('streams', ), ()),
                 throughput=(('throughput', ), ('train', )),
                 training=(('accuracy', ), ('budget', )))


def reuse_skipped(res: dict, earlier: dict, args) -> None:
    """Copy the parts skipped in this run from ``earlier`` (the work dir's
    results.json), and say so in the table's notes."""
    reused = []
    for part, (keys, meta_keys) in PART_KEYS.items():
        if getattr(args, f'skip_{part}') and all(k in earlier for k in keys):
            res.update({k: earlier[k] for k in keys})
            res['meta'].update({k: earlier['meta'][k] for k in meta_keys
                                if k in earlier['meta']})
            reused.append(part)
    if reused:
        res['notes'].append(
            f'Not measured by this command: {", ".join(reused)}, reused '
            f'from the earlier run in this work dir '
            f'(`{earlier["meta"]["command"]}`, same machine).')


def main():
    args = parse_args()
    default_threads = torch.get_num_threads()
    train_threads = args.train_threads or default_threads
    if args.train_threads:
        os.environ['OMP_NUM_THREADS'] = str(args.train_threads)  # train.py
    out = REPO / args.work_dir
    if args.report_only:
        return rewrite_report(out)
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
    earlier = load_results(out, '--reuse-skipped') \
        if args.reuse_skipped else None
    clock = [time.time()]

    def save(part=None):
        if part:
            minutes = (time.time() - clock[0]) / 60
            res['meta']['part_minutes'][part] = round(minutes, 2)
            print(f'[{part}: {minutes:.1f} min]', flush=True)
            clock[0] = time.time()
        return save_results(res, out)

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

    if earlier:
        reuse_skipped(res, earlier, args)
    res['plots'] = write_plots(res, out)
    print('\n' + save())
    print(f'\nTable: {out / "comparison.md"}; plots and results.json in {out}')
