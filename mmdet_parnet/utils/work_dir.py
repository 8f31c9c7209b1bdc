"""Reading what mmengine wrote into a work dir: each run is a timestamped
folder (``YYYYMMDD_HHMMSS/``) holding its log, its metrics (``<run>.json``,
test runs) and ``vis_data/scalars.json`` (training and validation scalars);
the newest run is the last in name order."""
import json
import re
from pathlib import Path
from typing import List


def latest_run(work_dir, needs: str = '') -> Path:
    """The newest run folder of ``work_dir`` that holds ``needs`` (a path
    relative to the run folder; ``{run}`` stands for the folder's name)."""
    work_dir = Path(work_dir)
    runs = sorted(p for p in work_dir.glob('*') if p.is_dir() and
                  (p / needs.format(run=p.name)).exists()
                  and re.fullmatch(r'\d{8}_\d{6}', p.name))
    if not runs:
        raise FileNotFoundError(
            f'no run folder (YYYYMMDD_HHMMSS/{needs}) in {work_dir}: has a '
            f'training or test run written there yet?')
    return runs[-1]


def read_scalars(work_dir) -> List[dict]:
    """The scalar records (losses, lr, validation metrics) of the newest
    run of ``work_dir`` that logged any."""
    path = latest_run(work_dir, 'vis_data/scalars.json')
    return [json.loads(line) for line in
            (path / 'vis_data/scalars.json').read_text().splitlines()
            if line.strip()]


def read_metrics(work_dir) -> dict:
    """The metrics of the newest test run of ``work_dir``."""
    run = latest_run(work_dir, '{run}.json')
    return json.loads((run / f'{run.name}.json').read_text())


def last_checkpoint(work_dir) -> Path:
    """The checkpoint mmengine saved last in ``work_dir``."""
    marker = Path(work_dir) / 'last_checkpoint'
    if not marker.exists():
        raise FileNotFoundError(f'{marker} is missing: no checkpoint was '
                                f'saved in {work_dir}')
    return Path(marker.read_text().strip())


def iter_times(log_text: str) -> List[float]:
    """Seconds per training iteration, as an mmengine log reports them."""
    return [float(t) for t in re.findall(
        r'\(train\)\s*(?:\[\d+\])?\s*\[\s*\d+/\d+\].*?  time: ([\d.]+)',
        log_text)]
