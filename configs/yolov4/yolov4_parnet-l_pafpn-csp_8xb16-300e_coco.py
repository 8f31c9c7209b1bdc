_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

# ParNet-L: C2, C3 = 320, 640; the final layer is narrowed from 2560 to 1024
# channels (it only feeds the neck's SPP).
model = dict(
    backbone=dict(arch='L', final_channels=1024),
    neck=dict(in_channels=[320, 640, 1024]))
