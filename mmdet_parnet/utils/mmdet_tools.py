"""Running the ``train.py`` / ``test.py`` scripts that ship inside the
installed mmdet package (``mmdet/.mim/tools``), as a user would."""
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Optional

import mmdet

#: Where the installed mmdet keeps its own tools.
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


def mmdet_tool(name: str) -> Path:
    """The path of one of mmdet's bundled scripts, e.g. ``'train.py'``."""
    script = MMDET_TOOLS / name
    if not script.exists():
        raise FileNotFoundError(
            f'{script} is missing: mmdet must be installed from its PyPI '
            f'wheel, which ships tools/ inside the package (pip install '
            f'mmdet==3.3.0)')
    return script


def run_mmdet_tool(name: str, *args, cwd=None,
                   log: Optional[IO] = None) -> float:
    """Run one of mmdet's bundled scripts with this interpreter; raise if it
    fails. Output goes to ``log`` (stdout and stderr together) if given.

    Returns:
        float: Wall time in seconds.
    """
    start = time.time()
    subprocess.run([sys.executable, str(mmdet_tool(name)), *map(str, args)],
                   cwd=cwd, check=True, stdout=log,
                   stderr=subprocess.STDOUT if log else None)
    return time.time() - start
