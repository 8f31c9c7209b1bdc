"""ParNet-S/M/L/XL YOLOv4 against its Darknet53 twin (same neck, head and
recipe) and mmdet's stock YOLOv3-Darknet53, in one run on one machine: one
markdown table and PNG plots.

Parts (each in docs/comparison.md, column by column):

1. Architecture: depth as the paper counts it (longest path of weighted
   layers, measured on the model's graph by mmdet_parnet.utils.depth),
   parameters and multiply-adds in training and deployed form.
2. Batch-1 latency at 640 of the backbone alone, of the detector's tensor
   forward (backbone, neck, head) and end to end (with decoding and NMS), in
   eager PyTorch (training form, deployed, deployed + channels-last) and in
   each engine of mmdet_parnet.deployment when it is there; medians of
   round-robin rounds, ratios to the Darknet53 twin. The shapes models are
   timed too, at 256, for the latency-vs-mAP plot.
3. ParNet's streams run concurrently (mmdet_parnet.utils.streams) against
   ParNet's sequential forward, batch 1 at 320 and 640, on 2 and on all
   cores.
4. Training throughput on the CPU: the shapes recipe's train step (bf16
   autocast), in-process, at 256.
5. Accuracy at an equal wall-clock budget: ParNet-S and the Darknet53 twin
   trained from scratch on the shapes data with mmdet's own train.py (as many
   iterations as the budget fits at each one's measured time per iteration,
   cosine schedule stretched to them), tested on the held-out split with
   mmdet's test.py, over several seeds.

Run it on an otherwise idle machine; ``--tiny`` (tiny widths, small inputs,
one round, a few iterations) only checks that everything runs.

Run through ``tools/analysis_tools/benchmark_parnet_vs_darknet.py``:

    python tools/analysis_tools/benchmark_parnet_vs_darknet.py
        [--work-dir outputs/parnet_vs_darknet] [--threads 2] [--rounds 5]
        [--budget-minutes 7] [--seeds 2] [--archs S M L XL]
        [--skip-training] [--skip-backends] [--skip-streams] [--tiny]
"""

from .study import main

__all__ = ['main']
