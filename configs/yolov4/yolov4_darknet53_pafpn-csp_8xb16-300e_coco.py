_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

# The Darknet53 twin: mmdet's Darknet (depth 53, LeakyReLU 0.1) with the SAME
# neck, head and recipe. norm_eval=False: Darknet's default (True) freezes BN
# statistics, which is for fine-tuning and cripples training from scratch.
model = dict(
    backbone=dict(
        _delete_=True,
        type='Darknet',
        depth=53,
        out_indices=(3, 4, 5),
        norm_eval=False),
    neck=dict(in_channels=[256, 512, 1024]))
