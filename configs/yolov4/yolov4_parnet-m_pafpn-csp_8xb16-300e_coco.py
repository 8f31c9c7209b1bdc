_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

# ParNet-M: C2, C3, C4 = 256, 512, 2048.
model = dict(
    backbone=dict(arch='M'), neck=dict(in_channels=[256, 512, 2048]))
