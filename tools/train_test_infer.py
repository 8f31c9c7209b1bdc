"""The train-test-infer pipeline that `make demo` runs: generate the shapes
data set, train ParNet-S-YOLOv4 on it with mmdet's own ``tools/train.py``,
evaluate COCO mAP on the held-out split with mmdet's own ``tools/test.py``,
run inference on held-out images and on the bundled photos, plot the curves,
and print where everything went.

Every setting of the model and the schedule lives in the config; this script
only chains the steps.

Usage: python tools/train_test_infer.py [--config CONFIG] [--out-dir outputs/demo]
"""
import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from mmdet_parnet.datasets import make_shapes_dataset
from mmdet_parnet.utils.inference import build_inferencer
from mmdet_parnet.utils.mmdet_tools import run_mmdet_tool
from mmdet_parnet.utils.plot import plot_training_curves
from mmdet_parnet.utils.work_dir import last_checkpoint, read_metrics

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = (
    'configs/yolov4/yolov4_parnet-s_pafpn-csp_1xb8-256-6e_shapes.py')


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
    run_mmdet_tool('train.py', args.config, '--work-dir', train_dir)
    checkpoint = str(last_checkpoint(train_dir))
    test_dir = out / 'test'
    run_mmdet_tool('test.py', args.config, checkpoint, '--work-dir', test_dir)
    metrics = read_metrics(test_dir)

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
