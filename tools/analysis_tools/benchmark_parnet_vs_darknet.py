"""ParNet-S/M/L/XL YOLOv4 against its Darknet53 twin and mmdet's stock
YOLOv3-Darknet53, in one run on one machine: one markdown table and PNG plots
(what each part measures: ``mmdet_parnet/analysis/parnet_vs_darknet/`` and
docs/comparison.md). Run it on an otherwise idle machine.

Usage:
    python tools/analysis_tools/benchmark_parnet_vs_darknet.py
        [--work-dir outputs/parnet_vs_darknet] [--threads 2] [--rounds 5]
        [--budget-minutes 7] [--seeds 2] [--archs S M L XL]
        [--int8] [--skip-training] [--skip-backends] [--skip-streams]
        [--report-only] [--tiny]
"""
from mmdet_parnet.analysis.parnet_vs_darknet import main

if __name__ == '__main__':
    main()
