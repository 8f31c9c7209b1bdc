# The demo: ParNet-S-YOLOv4 trained from scratch on the generated shapes data
# set (tools/dataset_converters/make_shapes_dataset.py) within a CPU budget of
# about 13 minutes on 2 cores. `make demo` runs it end to end.
_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

classes = ('ellipse', 'rectangle', 'triangle', 'star', 'ring', 'cross')
img_scale = (256, 256)
data_root = 'data/shapes/'
dataset_type = 'CheckedCocoDataset'
metainfo = dict(classes=classes)

# Half the COCO neck and head widths: six classes need less, and the budget
# buys more iterations. Loss weights as Scaled-YOLOv4 / YOLOv5 scale them for
# the class count (cls x num_classes / 80) and the input size (obj x
# (256 / 640)^2).
model = dict(
    backbone=dict(channels_last=True),
    neck=dict(out_channels=[64, 128, 256]),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=[64, 128, 256],
        out_channels=[128, 256, 512],
        loss_cls_weight=0.3 * len(classes) / 80,
        loss_obj_weight=(img_scale[0] / 640)**2),
    test_cfg=dict(score_thr=0.01, conf_thr=0.005, max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
# The held-out split: what `make demo` reports.
test_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_test.json',
        data_prefix=dict(img='test/'),
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_test.json',
    metric='bbox')

max_epochs = 6
base_lr = 0.0025
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
# A CPU-sized schedule: AdamW (invariant to the loss scale) with a short
# warm-up converges far faster from scratch than the 300-epoch SGD recipe.
# bfloat16 autocast: faster on CPUs with AVX512-BF16 or AMX (1.7x per
# iteration here, measured once beside other work).
optim_wrapper = dict(
    type='CPUBF16OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=0,
        T_max=max_epochs,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
]
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2),
    logger=dict(interval=10))
custom_hooks = []
randomness = dict(seed=0)
auto_scale_lr = dict(base_batch_size=8)
