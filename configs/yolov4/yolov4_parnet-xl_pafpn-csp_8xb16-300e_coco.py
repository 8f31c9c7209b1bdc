_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

# ParNet-XL (the paper's "ParNet-XL-CSP" detector backbone): C2, C3 = 400, 800;
# the final layer is narrowed from 3200 to 1024 channels (it only feeds the
# neck's SPP).
model = dict(
    backbone=dict(arch='XL', final_channels=1024),
    neck=dict(in_channels=[400, 800, 1024]))
