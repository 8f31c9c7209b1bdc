# YOLOv4-CSP's (Scaled-YOLOv4's) schedule, written for 8 GPUs x 16 images: SGD with
# nesterov momentum, 3 warm-up epochs, cosine decay to 0.2 x lr over 300
# epochs. Configs using it switch off Mosaic for the last num_last_epochs.
max_epochs = 300
num_last_epochs = 15
warmup_epochs = 3
base_lr = 0.01

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD',
        lr=base_lr,
        momentum=0.937,
        weight_decay=5e-4,
        nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.2,
        begin=warmup_epochs,
        T_max=max_epochs - warmup_epochs,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
]

# The head multiplies its loss by the images of the step (x world size) and
# NominalBatchHook accumulates to 64 images and scales weight decay by
# total_batch * accumulate / 64, as Scaled-YOLOv4 does: lr 0.01 gives the
# reference's update for any number of GPUs and images per GPU, so
# --auto-scale-lr must stay off (the hook refuses it).
auto_scale_lr = dict(enable=False, base_batch_size=64)
