_base_ = './yolov4_parnet-s_pafpn-csp_8xb16-300e_coco.py'

# ParNet-S initialised from the authors' ImageNet weights. Convert them first:
#   python tools/model_converters/parnet_official_to_mmdet.py \
#       parnet_s.pth.tar checkpoints/parnet-s92_in1k_mmdet.pth
# The released S is 92 wide (arch S92) and was trained with ReLU.
model = dict(
    backbone=dict(
        arch='S92',
        act_cfg=dict(type='ReLU'),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/parnet-s92_in1k_mmdet.pth')))
