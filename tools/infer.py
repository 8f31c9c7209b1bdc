"""Run a detector on images: annotated images and JSON predictions out.

Wraps ``mmdet.apis.DetInferencer``. A checkpoint written by
``tools/model_converters/parnet_deploy.py`` is recognised and loaded into the
deployed network; ``--deploy`` switches a training-form checkpoint to the
deployed form after loading.

Usage:
    python tools/infer.py INPUTS... --config CONFIG --weights CKPT
        [--out-dir outputs/infer] [--score-thr 0.3] [--deploy]

``INPUTS`` are image files or folders. Writes ``OUT_DIR/vis/<image>`` and
``OUT_DIR/preds/<image>.json`` (boxes xyxy in pixels, labels, scores).
"""
import argparse

from mmdet_parnet.utils.inference import build_inferencer, collect_images


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('inputs', nargs='+', help='images or folders')
    parser.add_argument('--config', required=True)
    parser.add_argument('--weights', required=True, help='checkpoint')
    parser.add_argument('--out-dir', default='outputs/infer')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--deploy', action='store_true',
                        help='switch the ParNet backbone to its deployed form')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    images = collect_images(args.inputs)
    inferencer = build_inferencer(args.config, args.weights, args.deploy,
                                  args.device)
    inferencer(images, out_dir=args.out_dir, pred_score_thr=args.score_thr,
               batch_size=args.batch_size, no_save_pred=False)
    print(f'{len(images)} images: annotated images in {args.out_dir}/vis, '
          f'predictions in {args.out_dir}/preds')


if __name__ == '__main__':
    main()
