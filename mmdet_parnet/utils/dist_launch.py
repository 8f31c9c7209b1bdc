"""What ``tools/dist_train.sh`` and ``tools/dist_test.sh`` share: check the
command line and start a tool on N processes with torchrun (mmengine's
``'pytorch'`` launcher; nccl on GPUs, gloo on CPU-only machines).

Usage (from those scripts, with the interpreter they chose)::

    python -m mmdet_parnet.utils.dist_launch TOOL USAGE N_FILES ARGS...

``ARGS`` are the user's: ``N_FILES`` paths (config, checkpoint), then the
number of processes, then the tool's own options. Paths are taken as the user
wrote them, relative to the current directory. ``NNODES``, ``NODE_RANK``,
``PORT`` and ``MASTER_ADDR`` come from the environment.
"""
import os
import sys
from typing import List

from torch.distributed.run import main as torchrun


def torchrun_args(tool: str, files: List[str], nproc: str,
                  options: List[str]) -> List[str]:
    """torchrun's command line for ``tool FILES... --launcher pytorch``."""
    env = os.environ
    return [
        f'--nnodes={env.get("NNODES", "1")}',
        f'--node_rank={env.get("NODE_RANK", "0")}',
        f'--master_addr={env.get("MASTER_ADDR", "127.0.0.1")}',
        f'--nproc_per_node={nproc}',
        f'--master_port={env.get("PORT", "29500")}',
        tool, *files, '--launcher', 'pytorch', *options
    ]


def main(argv: List[str]) -> int:
    tool, usage, num_files, *args = argv
    num_files = int(num_files)
    if len(args) <= num_files:
        print(f'usage: {usage}', file=sys.stderr)
        return 2
    files, nproc, options = args[:num_files], args[num_files], \
        args[num_files + 1:]
    for i, path in enumerate(files):
        if '://' in path:  # a URL: mmengine downloads it
            continue
        if not os.path.isfile(path):
            what = 'config ' if i == 0 else ''
            print(f'{what}{path} not found (relative paths are taken from '
                  f'{os.getcwd()})', file=sys.stderr)
            return 1
    torchrun(torchrun_args(tool, files, nproc, options))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
