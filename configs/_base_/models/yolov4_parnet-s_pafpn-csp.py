# ParNet-S backbone, YOLOv4-CSP neck (SPPCSP, CSP PANet) and head for the 80
# COCO classes, with YOLOv4-CSP's test settings.
#
# Loss weights are the head's arguments (loss_bbox_weight, loss_obj_weight,
# loss_cls_weight, obj_level_weights; defaults: Scaled-YOLOv4's); set them in
# bbox_head below, and in a config whose classes or input size differ (the
# shapes config scales them).
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
act_cfg = dict(type='Mish')

model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[0, 0, 0],
        std=[255.0, 255.0, 255.0],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    # Taps stream 2, fusion 2 and final: strides 8, 16, 32 (docs/parnet.md).
    backbone=dict(
        type='ParNet', arch='S', out_indices=(2, 5, 6), norm_eval=False),
    neck=dict(
        type='YOLOv4PAFPN',
        in_channels=[192, 384, 1280],
        out_channels=[128, 256, 512],
        spp='csp',
        block='csp',
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    bbox_head=dict(
        type='YOLOv4Head',
        num_classes=80,
        in_channels=[128, 256, 512],
        out_channels=[256, 512, 1024],
        bbox_coder=dict(type='YOLOv4BBoxCoder', mode='csp'),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    train_cfg=dict(assigner=dict(type='YOLOv4ShapeAssigner', mode='ratio')),
    test_cfg=dict(
        nms_pre=1000,
        score_thr=0.001,
        conf_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=300))
