#!/usr/bin/env bash
# Distributed training through torchrun (mmengine's 'pytorch' launcher); works on
# GPUs (nccl) and on CPU-only machines (gloo).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Paths (CONFIG, --work-dir, --resume ...) are taken as written, relative to the
# directory you run it from. Python: $PYTHON if set, else this checkout's
# .venv/bin/python (made by `make env`), else python3 / python on the PATH.
# NNODES, NODE_RANK, PORT and MASTER_ADDR are read from the environment.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
PYTHON=${PYTHON:-$([ -x "$REPO/.venv/bin/python" ] && echo "$REPO/.venv/bin/python" || command -v python3 || echo python)}
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "$0: $PYTHON cannot import torch. Run 'make env' in $REPO (it builds $REPO/.venv, which this script then uses), or set PYTHON to an interpreter that has the project's requirements." >&2; exit 1; }
exec "$PYTHON" -m mmdet_parnet.utils.dist_launch "$REPO/tools/train.py" \
    "bash $0 CONFIG NUM_PROCS [train.py args...]" 1 "$@"
