# The demo: ParNet-S-YOLOv4 trained from scratch on the generated shapes data
# set within a CPU budget of about 13 minutes on 2 cores (AdamW, bfloat16,
# 6 epochs at 256x256). `make demo` runs it end to end.
_base_ = [
    '../_base_/models/yolov4_parnet-s_pafpn-csp.py',
    '../_base_/datasets/shapes_detection.py',
    '../_base_/schedules/cpu_adamw-bf16_6e.py',
    '../_base_/default_runtime.py'
]

# Half the COCO neck and head widths: six classes need less, and the budget
# buys more iterations. The COCO head's gains (box 0.05, obj 0.7, cls 0.3)
# scaled for the class count as Scaled-YOLOv4 does (cls x num_classes / 80)
# and for the input size as YOLOv5 does (obj x (256 / 640)^2). A
# channels-last backbone: faster oneDNN convolutions.
model = dict(
    backbone=dict(channels_last=True),
    neck=dict(out_channels=[64, 128, 256]),
    bbox_head=dict(
        num_classes=len(_base_.classes),
        in_channels=[64, 128, 256],
        out_channels=[128, 256, 512],
        loss_cls_weight=0.3 * len(_base_.classes) / 80,
        loss_obj_weight=0.7 * (_base_.img_scale[0] / 640)**2),
    test_cfg=dict(score_thr=0.01, conf_thr=0.005, max_per_img=100))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2),
    logger=dict(interval=10))
randomness = dict(seed=0)
