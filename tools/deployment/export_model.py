"""Export a trained detector for CPU deployment: ONNX (ONNX Runtime) and
OpenVINO IR, optionally INT8, each checked against PyTorch on a real image.

The exported graph is the tensor forward (image batch in, one raw map per
head level out; decoding and NMS run outside it, in the head's own code, by
``mmdet_parnet.deployment.DeployedDetector``). ParNet is switched to its
re-parameterised form and every ConvModule's BN folded into its conv first.

Usage:
    python tools/deployment/export_model.py CONFIG CHECKPOINT
        [--backend onnxruntime openvino] [--out-dir outputs/deploy/NAME]
        [--shape H W | --dynamic-shape] [--dynamic-batch] [--opset 18]
        [--exporter dynamo|torchscript] [--form deployed|training]
        [--no-fold-bn] [--split-grouped-convs]
        [--int8 [--calib-images 300] [--calib-dir DIR]
                [--keep-fp32 first-conv head-outputs | none]
                [--ignore-regex RE ...] [--preset performance|mixed]
                [--bias-correction fast|full|none]
                [--max-drop 0.01 [--val-images 100]]
                [--ort-calibration minmax|entropy|percentile]
                [--ort-activations uint8|int8] [--no-per-channel]]
        [--check-image data/demo/demo.jpg] [--fp64-reference]
        [--cfg-options KEY=VALUE ...]

Writes OUT_DIR/model.onnx, OUT_DIR/model.xml (+ .bin) and with --int8
OUT_DIR/model_int8.onnx and OUT_DIR/model_int8.xml.
"""
import argparse
from pathlib import Path

from mmengine.config import DictAction

from mmdet_parnet.deployment.backends import require
from mmdet_parnet.deployment.quantize import (BIAS_CORRECTIONS,
                                              BOUNDARY_SCOPES,
                                              ORT_CALIBRATIONS, PRESETS)
from mmdet_parnet.deployment.workflow import (check_models,
                                              describe_precisions,
                                              export_detector,
                                              quantize_detector)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint',
                        help='training or deployed-form checkpoint (.pth)')
    parser.add_argument('--backend', nargs='+',
                        choices=['onnxruntime', 'openvino'],
                        default=['onnxruntime', 'openvino'])
    parser.add_argument('--out-dir',
                        help='default: outputs/deploy/<config name>')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                      help='fixed input size, multiples of 32 (default: the '
                      'test pipeline\'s Resize scale); smaller images are '
                      'padded bottom-right, as mmdet pads a batch')
    size.add_argument('--dynamic-shape', action='store_true',
                      help='any input size in multiples of 32')
    parser.add_argument('--dynamic-batch', action='store_true')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--exporter', choices=['dynamo', 'torchscript'],
                        default='dynamo',
                        help='torch.onnx exporter (dynamo: torch.export '
                        'based, torch\'s default and closer to PyTorch '
                        'numerically here; torchscript: the older tracer, '
                        'whose node names carry the module paths)')
    parser.add_argument('--form', choices=['deployed', 'training'],
                        default='deployed',
                        help='ParNet re-parameterised (deployed) or with its '
                        'branches (training: to quantize before '
                        're-parameterisation)')
    parser.add_argument('--no-fold-bn', action='store_true',
                        help='keep the neck\'s and head\'s BNs separate')
    parser.add_argument('--split-grouped-convs', action='store_true',
                        help='write groups=2 convs as two plain convs')
    quant = parser.add_argument_group('INT8 post-training quantization')
    quant.add_argument('--int8', action='store_true',
                       help='also write INT8 models (NNCF for OpenVINO, '
                       'static QDQ for ONNX Runtime)')
    quant.add_argument('--calib-images', type=int, default=300)
    quant.add_argument('--calib-dir',
                       help='folder of calibration images (default: the '
                       'config\'s training set)')
    quant.add_argument('--keep-fp32', nargs='+',
                       choices=list(BOUNDARY_SCOPES) + ['none'],
                       default=list(BOUNDARY_SCOPES),
                       help='convs left in float: the first conv, the '
                       'head\'s output convs, or none')
    quant.add_argument('--ignore-regex', nargs='+', default=[],
                       help='also keep in float the nodes whose name matches')
    quant.add_argument('--preset', choices=PRESETS, default='performance',
                       help='NNCF: symmetric (performance) or asymmetric '
                       '(mixed) activations')
    quant.add_argument('--bias-correction', choices=BIAS_CORRECTIONS,
                       default='fast', help='NNCF bias correction')
    quant.add_argument('--max-drop', type=float,
                       help='NNCF accuracy-aware quantization: largest '
                       'allowed absolute mAP drop, judged on --val-images '
                       'of the config\'s test_dataloader')
    quant.add_argument('--val-images', type=int, default=100)
    quant.add_argument('--ort-calibration', choices=ORT_CALIBRATIONS,
                       default='minmax')
    quant.add_argument('--ort-activations', choices=['uint8', 'int8'],
                       default='uint8')
    quant.add_argument('--no-per-channel', action='store_true',
                       help='ONNX Runtime: per-tensor weight scales')
    parser.add_argument('--check-image', default='data/demo/demo.jpg',
                        help='real image for the parity check')
    parser.add_argument('--fp64-reference', action='store_true',
                        help='also show PyTorch fp32 against fp64, the '
                        'drift PyTorch itself has')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    # Fail before the work when an engine is missing.
    require('onnx', 'to export')
    if args.exporter == 'dynamo':
        require('onnxscript', 'by the dynamo ONNX exporter')
    if 'openvino' in args.backend:
        require('openvino', 'for --backend openvino')
    if 'onnxruntime' in args.backend:
        require('onnxruntime', 'for --backend onnxruntime')
    if args.int8 and 'openvino' in args.backend:
        require('nncf', 'to quantize for OpenVINO (--int8)')
    if not Path(args.check_image).is_file():
        raise SystemExit(f'--check-image {args.check_image} does not exist: '
                         f'give a real image for the parity check')
    out_dir = args.out_dir or f'outputs/deploy/{Path(args.config).stem}'
    files, module, cfg = export_detector(
        args.config, args.checkpoint, out_dir, args.backend,
        size=args.shape, dynamic_batch=args.dynamic_batch,
        dynamic_size=args.dynamic_shape, opset=args.opset,
        exporter=args.exporter, form=args.form,
        fold_bn=not args.no_fold_bn,
        split_groups=args.split_grouped_convs,
        cfg_options=args.cfg_options)
    checks = [(backend, path, 'fp32') for backend, path in files.items()]
    if 'openvino' in files:
        checks.append(('openvino', files['openvino'], 'bf16'))
    if args.int8:
        keep = [] if 'none' in args.keep_fp32 else args.keep_fp32
        int8 = quantize_detector(
            cfg, files, out_dir, args.calib_images, args.calib_dir, keep,
            args.ignore_regex, args.preset, args.bias_correction,
            args.max_drop, args.val_images, args.ort_calibration,
            args.ort_activations, not args.no_per_channel)
        checks += [(backend, path, 'fp32') for backend, path in int8.items()]
    check_models(cfg, module, checks, args.check_image, args.fp64_reference)
    if 'openvino' in files:
        print('\nOpenVINO execution graph (layers per runtime precision):')
        describe_precisions(files['openvino'], cfg, 'fp32')
        if args.int8:
            describe_precisions(Path(out_dir) / 'model_int8.xml', cfg,
                                'fp32')
    print(f'\nRun: python tools/deployment/test_deployed.py {args.config} '
          f'{next(iter(files.values()))} --backend '
          f'{next(iter(files))} (COCO mAP on the test set)')


if __name__ == '__main__':
    main()
