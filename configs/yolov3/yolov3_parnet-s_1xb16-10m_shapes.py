# Baseline for the head comparison (tools/analysis_tools/benchmark_yolov4_vs_yolov3.py):
# mmdet's stock YOLOv3 neck and head, with their stock losses, assigner and
# optimizer settings, on the same ParNet-S backbone, data, input size,
# pipeline and schedule shape as the YOLOv4 demo config.
_base_ = '../yolov4/yolov4_parnet-s_pafpn-csp_1xb16-10m_shapes.py'

model = dict(
    type='YOLOV3',
    neck=dict(
        _delete_=True,
        type='YOLOV3Neck',
        num_scales=3,
        in_channels=[1280, 384, 192],
        out_channels=[512, 256, 128]),
    bbox_head=dict(
        _delete_=True,
        type='YOLOV3Head',
        num_classes=6,
        in_channels=[512, 256, 128],
        out_channels=[1024, 512, 256],
        anchor_generator=dict(
            type='YOLOAnchorGenerator',
            base_sizes=[[(116, 90), (156, 198), (373, 326)],
                        [(30, 61), (62, 45), (59, 119)],
                        [(10, 13), (16, 30), (33, 23)]],
            strides=[32, 16, 8]),
        bbox_coder=dict(type='YOLOBBoxCoder'),
        featmap_strides=[32, 16, 8],
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            loss_weight=1.0,
            reduction='sum'),
        loss_conf=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            loss_weight=1.0,
            reduction='sum'),
        loss_xy=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            loss_weight=2.0,
            reduction='sum'),
        loss_wh=dict(type='MSELoss', loss_weight=2.0, reduction='sum')),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(
            type='GridAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0)),
    test_cfg=dict(
        _delete_=True,
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.01,
        conf_thr=0.005,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=100))

# mmdet's YOLOv3 optimizer (its losses are sums, not Scaled-YOLOv4's scaled
# means, so it takes a smaller learning rate).
base_lr = 0.001
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='SGD', lr=base_lr, momentum=0.9,
        weight_decay=0.0005),
    paramwise_cfg=dict(_delete_=True),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=1,
        T_max=3,
        end=4,
        by_epoch=True,
        convert_to_iter_based=True)
]
