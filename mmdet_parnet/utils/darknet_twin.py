"""The Darknet53 twin of a config: mmdet's Darknet-53 in place of ParNet,
with the same neck, head and recipe, the backbone and the neck's input
widths taken from the COCO twin config
(``configs/yolov4/yolov4_darknet53_pafpn-csp_8xb16-300e_coco.py``), the one
place they are written."""
import copy
from pathlib import Path
from typing import Union

from mmengine.config import Config

TWIN_CONFIG = (Path(__file__).resolve().parents[2] / 'configs' / 'yolov4' /
               'yolov4_darknet53_pafpn-csp_8xb16-300e_coco.py')


def darknet_twin(cfg: Config,
                 twin_config: Union[str, Path] = TWIN_CONFIG) -> Config:
    """A copy of ``cfg`` with the twin config's backbone and neck input
    widths; everything else is ``cfg``'s."""
    twin_model = Config.fromfile(str(twin_config)).model
    twin = copy.deepcopy(cfg)
    twin.model.backbone = copy.deepcopy(twin_model.backbone)
    twin.model.neck.in_channels = list(twin_model.neck.in_channels)
    return twin
