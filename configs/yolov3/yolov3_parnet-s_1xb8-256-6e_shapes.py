# Baseline for the head comparison
# (tools/analysis_tools/benchmark_yolov4_vs_yolov3.py): mmdet's stock YOLOv3
# neck and head (stock widths, losses, assigner and test settings) on the same
# ParNet-S backbone, data, input size, pipeline, optimizer and schedule as the
# YOLOv4 demo config. AdamW is invariant to the scale of the loss, so the two
# heads' different loss conventions (YOLOv3: sums; ours: Scaled-YOLOv4's
# scaled means) need no separate tuning.
_base_ = '../yolov4/yolov4_parnet-s_pafpn-csp_1xb8-256-6e_shapes.py'

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
