"""The main job (`make demo`): generate the shapes data set, train
ParNet-S-YOLOv4 on it with mmdet's own ``tools/train.py``, evaluate COCO mAP on
the held-out split with mmdet's own ``tools/test.py``, run inference on
held-out images and on the bundled photos, plot the curves, and print where
everything went.

Every setting of the model and the schedule lives in the config; this script
only chains the steps.

Usage: python tools/demo.py [--config CONFIG] [--out-dir outputs/demo]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import mmdet
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))

from infer import build_inferencer  # noqa: E402
from mmdet_parnet.datasets import make_shapes_dataset  # noqa: E402
from analysis_tools.plot_curves import plot_training_curves  # noqa: E402

DEFAULT_CONFIG = 'configs/yolov4/yolov4_parnet-s_pafpn-csp_1xb8-6e_shapes.py'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


def run_mmdet_tool(name: str, *args: str) -> None:
    """Run one of the scripts that ship inside the installed mmdet."""
    script = MMDET_TOOLS / name
    if not script.exists():
        raise FileNotFoundError(
            f'{script} is missing: mmdet must be installed from PyPI (its '
            f'wheel ships tools/ inside the package)')
    subprocess.run([sys.executable, str(script), *args], cwd=REPO,
                   check=True)


def latest_metrics(work_dir: Path) -> dict:
    """The metrics mmengine wrote for the newest run in ``work_dir``."""
    runs = sorted(p for p in work_dir.iterdir() if p.is_dir() and
                  (p / f'{p.name}.json').exists())
    if not runs:
        raise FileNotFoundError(f'no metrics file under {work_dir}')
    return json.loads((runs[-1] / f'{runs[-1].name}.json').read_text())


def tile_images(images, out_png, columns=4) -> Path:
    """Tile equally sized images (the annotated held-out ones) into a PNG."""
    tiles = [cv2.imread(str(p)) for p in images]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns])
            for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(out_png), np.vstack(rows))
    return Path(out_png)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--out-dir', default='outputs/demo')
    args = parser.parse_args()
    os.chdir(REPO)
    out = Path(args.out_dir)
    start = time.time()

    data = make_shapes_dataset('data/shapes')
    print(f'[demo] shapes data set in data/shapes '
          f'({"generated" if data["generated"] else "up to date"})')

    train_dir = out / 'train'
    run_mmdet_tool('train.py', args.config, '--work-dir', str(train_dir))
    checkpoint = (train_dir / 'last_checkpoint').read_text().strip()
    test_dir = out / 'test'
    run_mmdet_tool('test.py', args.config, checkpoint, '--work-dir',
                   str(test_dir))
    metrics = latest_metrics(test_dir)

    inferencer = build_inferencer(args.config, checkpoint, deploy=True)
    held_out = sorted(Path(data['test']['img_dir']).glob('*.jpg'))[:8]
    photos = sorted((REPO / 'data' / 'demo').glob('*.jpg'))
    for name, images in (('infer_held_out', held_out), ('infer_photos',
                                                        photos)):
        inferencer([str(p) for p in images], out_dir=str(out / name),
                   pred_score_thr=0.3, no_save_pred=False)
    grid = tile_images(sorted((out / 'infer_held_out' / 'vis').glob('*.jpg')),
                       out / 'held_out_predictions.png')
    curves = plot_training_curves({'ParNet-S-YOLOv4': train_dir},
                                  out / 'curves.png')
    minutes = (time.time() - start) / 60

    print('\n[demo] done in {:.1f} min'.format(minutes))
    print(f'[demo] held-out COCO bbox mAP {metrics["coco/bbox_mAP"]:.3f}, '
          f'mAP50 {metrics["coco/bbox_mAP_50"]:.3f}, '
          f'small/medium/large {metrics["coco/bbox_mAP_s"]:.3f}/'
          f'{metrics["coco/bbox_mAP_m"]:.3f}/{metrics["coco/bbox_mAP_l"]:.3f}')
    print(f'[demo] training logs and checkpoints: {train_dir}')
    print(f'[demo] checkpoint evaluated:          {checkpoint}')
    print(f'[demo] evaluation logs:               {test_dir}')
    print(f'[demo] loss and mAP curves:           {curves}')
    print(f'[demo] held-out predictions:          {out / "infer_held_out"}'
          f'/{{vis,preds}}, tiled in {grid}')
    print(f'[demo] bundled photos (out of domain): {out / "infer_photos"}'
          f'/{{vis,preds}}')
    (out / 'summary.json').write_text(json.dumps(
        dict(config=args.config, checkpoint=checkpoint, minutes=minutes,
             metrics=metrics), indent=2))


if __name__ == '__main__':
    main()
