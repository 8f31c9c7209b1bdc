"""Plot training loss and validation COCO mAP of one or more mmengine runs.

Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` (the newest run with
one) of each work dir and writes one PNG with two panels: training loss by
iteration and ``coco/bbox_mAP`` by epoch.

Usage: python tools/analysis_tools/plot_curves.py OUT.png WORK_DIR[=LABEL]...
"""
import argparse
from pathlib import Path

from mmdet_parnet.utils.plot import plot_training_curves


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', help='PNG to write')
    parser.add_argument('work_dirs', nargs='+', help='WORK_DIR or WORK_DIR=LABEL')
    args = parser.parse_args()
    runs = {}
    for item in args.work_dirs:
        path, _, label = item.partition('=')
        runs[label or Path(path).name] = path
    print(f'wrote {plot_training_curves(runs, args.out)}')


if __name__ == '__main__':
    main()
