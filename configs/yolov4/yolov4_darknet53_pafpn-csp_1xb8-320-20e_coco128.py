_base_ = './yolov4_parnet-s_pafpn-csp_1xb8-320-20e_coco128.py'

# The Darknet53 twin of the coco128 config: same neck, head, input size,
# pipeline and schedule; BN statistics trained (norm_eval=False).
model = dict(
    backbone=dict(
        _delete_=True,
        type='Darknet',
        depth=53,
        out_indices=(3, 4, 5),
        norm_eval=False),
    neck=dict(in_channels=[256, 512, 1024]))
