"""Training curves of mmengine runs: training loss by iteration and
validation COCO mAP by epoch, one PNG with two panels."""
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from .work_dir import read_scalars  # noqa: E402


def plot_training_curves(work_dirs, out_png) -> Path:
    """Plot each run of ``work_dirs`` (a path, or a dict label -> path)."""
    if not isinstance(work_dirs, dict):
        work_dirs = {Path(work_dirs).name: work_dirs}
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4))
    for label, work_dir in work_dirs.items():
        records = read_scalars(work_dir)
        train = [r for r in records if 'loss' in r]
        val = [r for r in records if 'coco/bbox_mAP' in r]
        ax_loss.plot([r['iter'] for r in train], [r['loss'] for r in train],
                     label=label)
        ax_map.plot([r['step'] for r in val],
                    [r['coco/bbox_mAP'] for r in val], marker='o',
                    label=f'{label} mAP')
        ax_map.plot([r['step'] for r in val],
                    [r['coco/bbox_mAP_50'] for r in val], marker='.',
                    linestyle='--', label=f'{label} mAP50')
    ax_loss.set(xlabel='iteration', ylabel='training loss', yscale='log',
                title='Training loss')
    ax_map.set(xlabel='epoch', ylabel='COCO bbox mAP', title='Validation mAP',
               ylim=(0, None))
    for ax in (ax_loss, ax_map):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
