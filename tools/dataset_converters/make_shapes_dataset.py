"""Generate the synthetic shapes detection dataset in COCO format.

Example:
    python tools/dataset_converters/make_shapes_dataset.py data/shapes
"""
import argparse
import inspect
import json

from mmdet_parnet.datasets.shapes import SPLITS, make_shapes_dataset

DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(
        make_shapes_dataset).parameters.items()
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='folder to write the dataset into')
    for name in ('num_train', 'num_val', 'num_test', 'img_size', 'seed'):
        parser.add_argument(
            '--' + name.replace('_', '-'), type=int, default=DEFAULTS[name],
            help=f'default: {DEFAULTS[name]}')
    return parser.parse_args()


def main():
    args = parse_args()
    result = make_shapes_dataset(**vars(args))
    print(('Wrote' if result['generated'] else 'Up to date, kept') +
          f' the shapes dataset in {args.out_dir} ({result["marker"]}):')
    for split in SPLITS:
        with open(result[split]['ann_file']) as f:
            coco = json.load(f)
        print(f'  {split:5s}: {len(coco["images"]):5d} images, '
              f'{len(coco["annotations"]):6d} boxes, '
              f'{result[split]["img_dir"]}/, {result[split]["ann_file"]}')


if __name__ == '__main__':
    main()
