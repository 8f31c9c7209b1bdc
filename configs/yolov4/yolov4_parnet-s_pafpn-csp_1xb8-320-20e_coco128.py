# ParNet-S-YOLOv4 from scratch on the bundled coco128 at a CPU-sized 320x320
# input with a CPU-sized schedule (AdamW, bfloat16, 20 epochs). Its Darknet53
# twin is yolov4_darknet53_pafpn-csp_1xb8-320-20e_coco128.py.
_base_ = [
    '../_base_/models/yolov4_parnet-s_pafpn-csp.py',
    '../_base_/datasets/coco128_detection.py',
    '../_base_/schedules/cpu_adamw-bf16_20e.py',
    '../_base_/default_runtime.py'
]

model = dict(test_cfg=dict(max_per_img=100))

default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
randomness = dict(seed=0)
