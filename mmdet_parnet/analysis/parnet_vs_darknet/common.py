"""Names, constants and small helpers the study's parts share."""
import math
import os
import platform
import statistics
import sys
from pathlib import Path

import mmdet
import psutil

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / 'configs' / 'yolov4'
YOLOV3_CONFIG = (Path(mmdet.__file__).parent / '.mim' / 'configs' / 'yolo' /
                 'yolov3_d53_8xb8-ms-608-273e_coco.py')
TWIN = 'Darknet53 twin'
YOLOV3 = 'YOLOv3-D53 (mmdet)'
PAIR = ('ParNet-S', TWIN)  # trained at an equal budget
FORMS = ('training form', 'deployed', 'deployed, channels-last')
SCOPES = ('backbone', 'detector', 'end-to-end')
#: --tiny: ParNet's default stream depths (so its depth stays 12) at tiny
#: widths; the necks and heads shrink too. Darknet53 has no width setting.
TINY_ARCH = dict(widths=(8, 16, 32, 32))
TINY_NECK_IN = [16, 32, 32]
TINY_V4 = dict(neck_out=[8, 16, 32], head_out=[16, 32, 64])
TINY_V3 = dict(neck_out=[32, 16, 8], head_out=[64, 32, 16])
TINY_SIZE = 64


def progress(iterable, total=None, desc=''):
    """tqdm if it is installed, else mmengine's ProgressBar."""
    try:
        from tqdm import tqdm
    except ImportError:
        from mmengine.utils import ProgressBar
        items = list(iterable)
        print(desc)
        bar = ProgressBar(len(items))
        for item in items:
            yield item
            bar.update()
        print()
        return
    yield from tqdm(iterable, total=total, desc=desc, file=sys.stdout,
                    dynamic_ncols=True)


def note(text: str) -> None:
    print(f'[note] {text}', flush=True)


def physical_cores() -> int:
    """Physical cores this process may run on."""
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    if hasattr(os, 'sched_getaffinity'):
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores)


def cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median(values):
    return statistics.median(values) if values else float('nan')


def fmt(value, digits=1, suffix=''):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '—'
    return f'{value:.{digits}f}{suffix}'
