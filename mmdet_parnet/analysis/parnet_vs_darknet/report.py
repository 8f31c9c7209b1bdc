"""The markdown table, the verdict on the issue's targets and the PNG
plots, from the results (as the study holds them, or read back from its
``results.json``)."""
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from ...utils.plot import plot_training_curves  # noqa: E402
from .common import FORMS, PAIR, SCOPES, TWIN, fmt  # noqa: E402


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


#: The targets the study is judged by: (label, scope, runtime choice, bound).
TARGETS = (
    ('deployed ParNet-S backbone, its fastest path', 'backbone', 'fastest',
     0.5),
    ('ParNet-S-YOLOv4 detector, eager PyTorch deployed', 'detector',
     FORMS[1], 0.75),
    ('ParNet-S-YOLOv4 detector, fastest engine', 'detector', 'engine', 0.75),
)

VERDICT = {True: 'yes', False: 'no', None: '—'}


def is_engine(runtime: str) -> bool:
    """Engine rows are labelled ``'<engine> <precision>'``."""
    return runtime not in FORMS


def targets(res: dict) -> list:
    """The latency targets at the COCO configs' size (ParNet-S over the twin
    in the same runtime, with the ratio of their deployed multiply-adds: in
    a compute-bound engine latency follows them) and the equal-budget
    accuracy target."""
    latency = res.get('latency', {})
    arch = res.get('architecture', {})
    parnet, twin = PAIR
    rows = []
    for label, scope, choice, bound in TARGETS:
        ours = {r: ms for (g, n, r, s), ms in latency.items()
                if g == 'coco' and n == parnet and s == scope
                and r != FORMS[0]}
        theirs = {r: ms for (g, n, r, s), ms in latency.items()
                  if g == 'coco' and n == twin and s == scope}
        if choice == 'fastest':
            pool = [r for r in ours if r in theirs]
        elif choice == 'engine':
            pool = [r for r in ours if r in theirs and is_engine(r)]
        else:
            pool = [choice] if choice in ours and choice in theirs else []
        if not pool:
            rows.append(dict(target=f'{label} <= {bound:g}x the twin',
                             runtime='—', measured='not measured',
                             mac_ratio=None, met=None))
            continue
        runtime = min(pool, key=ours.get)
        ratio = ours[runtime] / theirs[runtime]
        macs = None
        if parnet in arch and twin in arch:
            key = f'{scope}_gmacs_deploy'
            macs = arch[parnet][key] / arch[twin][key]
        rows.append(dict(
            target=f'{label} <= {bound:g}x the twin', runtime=runtime,
            measured=f'{ours[runtime]:.1f} / {theirs[runtime]:.1f} ms = '
            f'{ratio:.2f}x', mac_ratio=macs, met=ratio <= bound))
    acc = res.get('accuracy', {})
    if parnet in acc and twin in acc:
        a, b = acc[parnet], acc[twin]
        rows.append(dict(
            target='equal-budget held-out mAP, ParNet-S >= the twin',
            runtime='shapes, from scratch',
            measured=f'{a["mAP_mean"]:.3f} ± {a["mAP_std"]:.3f} vs '
            f'{b["mAP_mean"]:.3f} ± {b["mAP_std"]:.3f}', mac_ratio=None,
            met=a['mAP_mean'] >= b['mAP_mean']))
    return rows


def targets_section(res: dict) -> list:
    rows = targets(res)
    if not rows:
        return []
    lines = [
        '## Targets', '',
        '| target | runtime | ParNet-S / twin | deployed MACs ParNet-S / twin '
        '| met |', '|---|---|---|---|---|'
    ]
    for r in rows:
        lines.append(f'| {r["target"]} | {r["runtime"]} | {r["measured"]} | '
                     f'{fmt(r["mac_ratio"], 2, "x")} | '
                     f'{VERDICT[r["met"]]} |')
    return lines + [
        '', 'Where an engine is compute-bound (INT8, BF16, fp32 convolutions '
        'near the CPU\'s peak) the latency ratio cannot go far below the '
        'ratio of multiply-adds.', ''
    ]


#: Concurrent streams "win" above this speedup: round-robin medians of a
#: few rounds move by a few percent from run to run.
STREAMS_WIN = 1.05


def streams_verdict(rows: list) -> str:
    """What the streams part found, in one sentence."""
    wins = sum(r['speedup'] > STREAMS_WIN for r in rows)
    best = max(r['speedup'] for r in rows)
    verdict = (f'Concurrent streams were faster by more than '
               f'{STREAMS_WIN - 1:.0%} in {wins} of {len(rows)} cases (best '
               f'{best:.2f}x)')
    if not wins:
        return verdict + (': on this CPU they do not win, so ParNet keeps '
                          'its sequential forward (the default).')
    return verdict + ('. ParNet\'s own forward stays sequential; '
                      'mmdet_parnet.utils.streams.ConcurrentStreams runs the '
                      'streams concurrently where that pays.')


def report(res: dict) -> str:
    meta = res['meta']
    lines = [
        '# ParNet against Darknet53 (YOLOv4-CSP neck and head)', '',
        f'Machine: {meta["cpu"]}, {meta["cores"]} physical cores; torch '
        f'{meta["torch"]}. Command: `{meta["command"]}`.', ''
    ]
    lines += targets_section(res)
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
        lines += ['', streams_verdict(res['streams']), '']
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


def save_figure(fig, out_png: Path) -> Path:
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


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
    return save_figure(fig, out_png)


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
    return save_figure(fig, out_png)


def write_plots(res: dict, out: Path) -> list:
    """The study's PNGs in ``out``: latency against parameters and against
    held-out mAP, and the equal-budget runs' training curves."""
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
    return [str(Path(p).relative_to(out)) for p in plots]


def to_json(res: dict) -> dict:
    """``res`` with the latency table as a list of records."""
    res = dict(res)
    res['latency'] = [
        dict(group=g, name=n, runtime=r, scope=s, ms=ms)
        for (g, n, r, s), ms in res.get('latency', {}).items()
    ]
    return res


def from_json(data: dict) -> dict:
    """The inverse of :func:`to_json`."""
    res = dict(data)
    res['latency'] = {(r['group'], r['name'], r['runtime'], r['scope']):
                      r['ms'] for r in data.get('latency', [])}
    return res
