"""CPU latency of the whole detector across runtimes and precisions: a
config (ParNet-S-YOLOv4) and its Darknet53 twin (same neck and head), with
held-out mAP per row when a checkpoint is given.

Rows, per model: PyTorch eager (training form, deployed, deployed
channels-last), torch.compile, ONNX Runtime fp32 / INT8 (static QDQ),
OpenVINO fp32 / BF16 / INT8 (NNCF). Every detector is timed round-robin
(one call of each per round) in one process, on the model alone and end to
end (BGR image in memory -> boxes: pre-processing, model, decoding, NMS).
The test pipeline resizes and pads to SIZE x SIZE for every row. Prints a
markdown table (medians; ratios to eager deployed and ParNet / Darknet53;
mAP, mAP50 on the config's test set at SIZE) and writes it with a JSON and
a latency-vs-mAP PNG under OUT_DIR/SIZE/. Run it on an otherwise idle
machine.

Usage:
    python tools/analysis_tools/benchmark_deployment.py
        [--config CONFIG] [--checkpoint CKPT] [--twin-checkpoint CKPT]
        [--no-twin] [--size 640] [--threads 2] [--rounds 10] [--warmup 2]
        [--variants eager-training ... ov-int8] [--image data/demo/demo.jpg]
        [--calib-images 300] [--calib-dir DIR] [--no-map]
        [--max-images N] [--out-dir outputs/deploy_benchmark]
"""
import argparse

from mmdet_parnet.deployment.benchmark import VARIANTS, run_benchmark

SHAPES_CONFIG = ('configs/yolov4/'
                 'yolov4_parnet-s_pafpn-csp_1xb8-256-6e_shapes.py')


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=SHAPES_CONFIG)
    parser.add_argument('--checkpoint',
                        help='trained checkpoint of CONFIG (without: random '
                        'weights, latency only)')
    parser.add_argument('--twin-checkpoint',
                        help='trained checkpoint of the Darknet53 twin')
    parser.add_argument('--no-twin', action='store_true')
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--variants', nargs='+', choices=VARIANTS,
                        default=list(VARIANTS))
    parser.add_argument('--image', default='data/demo/demo.jpg')
    parser.add_argument('--calib-images', type=int, default=300)
    parser.add_argument('--calib-dir')
    parser.add_argument('--no-map', action='store_true')
    parser.add_argument('--max-images', type=int,
                        help='evaluate mAP on the first N test images')
    parser.add_argument('--out-dir', default='outputs/deploy_benchmark')
    args = parser.parse_args()
    if args.size % 32:
        raise SystemExit(f'--size must be a multiple of 32, got {args.size}')
    run_benchmark(args.config, args.checkpoint, args.twin_checkpoint,
                  args.size, args.threads, args.rounds, args.warmup,
                  args.variants, args.image, args.calib_images,
                  args.calib_dir, not args.no_map, args.max_images,
                  not args.no_twin, args.out_dir)


if __name__ == '__main__':
    main()
