# ParNet-S backbone, YOLOv4-CSP neck and head, YOLOv4-CSP (Scaled-YOLOv4)
# recipe on MS-COCO: Mosaic + affine + HSV augmentation switched off for the
# last 15 epochs, SGD (nesterov) with 3 warm-up epochs and cosine decay to
# 0.2 x lr, EMA. 8 GPUs x 16 images; the other COCO configs in this folder
# inherit it.
_base_ = [
    '../_base_/models/yolov4_parnet-s_pafpn-csp.py',
    '../_base_/datasets/coco_detection_yolov4.py',
    '../_base_/schedules/yolov4-csp_sgd_300e.py',
    '../_base_/default_runtime.py'
]

default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [
    dict(
        type='PipelineSwitchHook',
        switch_epoch=_base_.max_epochs - _base_.num_last_epochs,
        switch_pipeline=_base_.last_stage_pipeline),
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0001,
        update_buffers=True,
        priority=49),
    # Scaled-YOLOv4's nominal batch of 64: gradient accumulation and weight
    # decay scaled to the global batch, on any number of GPUs.
    dict(type='NominalBatchHook', nominal_batch_size=64)
]
