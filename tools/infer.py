"""Run a detector on images: annotated images and JSON predictions out.

Wraps ``mmdet.apis.DetInferencer``. A checkpoint written by
``tools/model_converters/parnet_deploy.py`` is recognised and loaded into the
deployed network; ``--deploy`` switches a training-form checkpoint to the
deployed form after loading. ``--backend onnxruntime`` / ``openvino`` runs a
model exported by ``tools/deployment/export_model.py`` instead, with the
config's own pre-processing, decoding and NMS (``mmdet_parnet.deployment``).

Usage:
    python tools/infer.py INPUTS... --config CONFIG --weights CKPT
        [--out-dir outputs/infer] [--score-thr 0.3] [--deploy] [--strict]
        [--backend pytorch|onnxruntime|openvino] [--precision fp32|bf16]

``INPUTS`` are image files or folders. Writes ``OUT_DIR/vis/<image>`` and
``OUT_DIR/preds/<image>.json`` (boxes xyxy in pixels, labels, scores).
A file that is not a readable image (empty, not an image, cut short,
corrupt) is reported by name and skipped, and the summary counts the skipped
files; with ``--strict`` the first one is an error.
"""
import argparse
import sys

from mmdet_parnet.datasets import IMAGE_PROBLEMS
from mmdet_parnet.utils.checkpoint_errors import CheckpointLoadError
from mmdet_parnet.utils.inference import (UnreadableImageError,
                                          build_inferencer, collect_images,
                                          skip_summary, split_readable)


def report_skip(path: str, problem: str) -> None:
    print(f'skipping {path}: {IMAGE_PROBLEMS[problem]}', file=sys.stderr,
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('inputs', nargs='+', help='images or folders')
    parser.add_argument('--config', required=True)
    parser.add_argument(
        '--weights', required=True,
        help='a checkpoint (--backend pytorch), or the .onnx / .xml model '
        'written by tools/deployment/export_model.py')
    parser.add_argument(
        '--backend', choices=['pytorch', 'onnxruntime', 'openvino'],
        default='pytorch',
        help='pytorch: mmdet\'s DetInferencer on a checkpoint; onnxruntime '
        '/ openvino: an exported model through mmdet_parnet.deployment')
    parser.add_argument('--precision', choices=['fp32', 'bf16'],
                        default='fp32', help='OpenVINO float precision')
    parser.add_argument('--threads', type=int,
                        help='engine threads (onnxruntime / openvino)')
    parser.add_argument('--out-dir', default='outputs/infer')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--deploy', action='store_true',
                        help='switch the ParNet backbone to its deployed form')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--strict', action='store_true',
        help='stop with an error at the first file that is not a readable '
        'image (by default such files are reported, skipped and counted)')
    args = parser.parse_args()
    try:
        images, skipped = split_readable(
            collect_images(args.inputs), args.strict, on_skip=report_skip)
        if not images:
            raise FileNotFoundError(
                f'none of the {len(skipped)} files is a readable image; '
                f'{skip_summary(skipped)}')
        if args.backend == 'pytorch':
            inferencer = build_inferencer(args.config, args.weights,
                                          args.deploy, args.device)
            inferencer(images, out_dir=args.out_dir,
                       pred_score_thr=args.score_thr,
                       batch_size=args.batch_size, no_save_pred=False)
        else:
            from mmdet_parnet.deployment import run_deployed_inference
            run_deployed_inference(args.config, args.weights, images,
                                   args.backend, args.precision, args.out_dir,
                                   args.score_thr, args.threads,
                                   args.batch_size)
    except (FileNotFoundError, ValueError, ImportError, UnreadableImageError,
            CheckpointLoadError) as err:
        raise SystemExit(f'error: {err}')
    print(f'{len(images)} images: annotated images in {args.out_dir}/vis, '
          f'predictions in {args.out_dir}/preds')
    if skipped:
        print(skip_summary(skipped))


if __name__ == '__main__':
    main()
