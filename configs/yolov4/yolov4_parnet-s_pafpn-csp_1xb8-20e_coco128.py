# ParNet-S-YOLOv4 from scratch on the bundled coco128 (128 COCO train2017
# images; train = val, the customary check that a detector can fit real data)
# at a CPU-sized 320x320 input with a CPU-sized schedule. Its Darknet53 twin is
# yolov4_darknet53_pafpn-csp_1xb8-20e_coco128.py.
_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

img_scale = (320, 320)
data_root = 'data/coco128/'
dataset_type = 'CheckedCocoDataset'

model = dict(test_cfg=dict(max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# The demo's CPU schedule (AdamW, short warm-up, cosine), bfloat16 autocast.
max_epochs = 20
base_lr = 0.002
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
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
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
custom_hooks = []
randomness = dict(seed=0)
auto_scale_lr = dict(base_batch_size=8)
