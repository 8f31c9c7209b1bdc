"""COCO mAP of a deployed model on a config's test set, with mmdet's dataset
and the config's ``test_evaluator`` (CocoMetric): the same numbers
``tools/test.py`` gives the PyTorch model, for every backend and precision.

Usage:
    python tools/deployment/test_deployed.py CONFIG MODEL
        [--backend onnxruntime|openvino|pytorch] [--precision fp32|bf16]
        [--threads N] [--max-images N] [--batch-size 1]
        [--out metrics.json]
        [--cfg-options KEY=VALUE ...]

MODEL is an .onnx (onnxruntime, openvino), an OpenVINO .xml, or for
``--backend pytorch`` a checkpoint (training or deployed form).
"""
import argparse
import json
import time
from pathlib import Path

from mmengine.config import DictAction

from mmdet_parnet.deployment import DeployedDetector, evaluate
from mmdet_parnet.deployment.backends import BACKENDS, PRECISIONS


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('model', help='.onnx / .xml model, or a checkpoint '
                        'for --backend pytorch')
    parser.add_argument('--backend', choices=BACKENDS, default=None,
                        help='default: from the file (.onnx: onnxruntime, '
                        '.xml: openvino, .pth: pytorch)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='float precision (OpenVINO bf16; INT8 comes '
                        'from an INT8 model file)')
    parser.add_argument('--threads', type=int)
    parser.add_argument('--max-images', type=int,
                        help='evaluate the first N test images only')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--out', help='write the metrics as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    backend = args.backend or {
        '.onnx': 'onnxruntime',
        '.xml': 'openvino',
        '.pth': 'pytorch'
    }.get(Path(args.model).suffix.lower())
    if backend is None:
        raise SystemExit(f'cannot tell the backend of {args.model} from its '
                         f'suffix: give --backend {"|".join(BACKENDS)}')
    detector = DeployedDetector(args.model, args.config, backend=backend,
                                precision=args.precision,
                                threads=args.threads,
                                cfg_options=args.cfg_options)
    print(f'{backend}: {args.model}, running {detector.precision}')
    start = time.perf_counter()
    metrics = evaluate(detector, args.max_images, args.batch_size,
                       log_every=50)
    seconds = time.perf_counter() - start
    summary = dict(config=args.config, model=args.model, backend=backend,
                   precision=detector.precision, seconds=round(seconds, 1),
                   **{k: float(v) for k, v in metrics.items()
                      if isinstance(v, (int, float))})
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == '__main__':
    main()
