# A CPU-sized schedule: AdamW (invariant to the loss scale) with a 50-iteration
# warm-up and cosine decay to 0.05 x lr converges far faster from scratch than
# the 300-epoch SGD recipe. bfloat16 autocast (CPUBF16OptimWrapper): faster on
# CPUs with AVX512-BF16 or AMX. For 1 process x 8 images.
max_epochs = 6
base_lr = 0.0025

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='CPUBF16OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
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

auto_scale_lr = dict(enable=False, base_batch_size=8)
