# The CPU schedule of cpu_adamw-bf16_6e.py (its optimizer and wrapper), over
# 20 epochs at lr 2e-3, validating every 5: the same warm-up and cosine
# decay, stretched.
_base_ = './cpu_adamw-bf16_6e.py'

max_epochs = 20
base_lr = 0.002

train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
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
