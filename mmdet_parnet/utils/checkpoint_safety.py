"""Weights-only loading of mmengine checkpoints on torch >= 2.6.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: its
unpickler rebuilds tensors, containers and primitive types, and any other
class only if it is on an allowlist. That is what makes a downloaded
checkpoint safe to open, and mmengine (``load_checkpoint``, ``--resume``,
``load_from``, ``tools/test.py``, ``DetInferencer(weights=...)``) relies on
the default.

An mmengine training checkpoint holds, besides tensors, the runner's message
hub: :class:`mmengine.logging.HistoryBuffer` objects wrapping numpy arrays,
and numpy scalars in the runtime info. Each HistoryBuffer also pickles its
statistics methods as ``getattr(HistoryBuffer, 'mean')`` and so on. This
module adds to torch's allowlist, when the package is imported, exactly:

* ``HistoryBuffer`` and the numpy classes and functions that rebuild arrays,
  scalars and dtypes;
* under the name ``builtins.getattr``, a getattr that only returns
  HistoryBuffer's statistics methods and refuses everything else (a general
  getattr would reach any code through attributes of allowed objects).

Loading stays weights-only: a pickle that names any other callable
(``os.system``, say) is still refused with ``UnpicklingError``. Nothing is
switched off globally; ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is never needed.
Checkpoints written by stock mmengine load the same way.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj, name: str):
    """``getattr`` as a weights-only load allows it: only
    ``getattr(HistoryBuffer, <statistics method>)``."""
    allowed = set(_DEFAULT_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if obj is not HistoryBuffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'weights-only load refused getattr({obj!r}, {name!r}): only '
            f'HistoryBuffer statistics methods {sorted(allowed)} may be '
            f'looked up')
    return getattr(obj, name)


def _numpy_globals() -> list:
    """The numpy classes and rebuild functions a numpy array, scalar or dtype
    pickles as (names differ between numpy 1.x and 2.x)."""
    multiarray = getattr(np, '_core', np.core).multiarray
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float16, np.float32, np.float64,
                                    np.int8, np.int16, np.int32, np.int64,
                                    np.uint8, np.bool_)
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dtype_classes]


#: Every class and function added to torch's weights-only allowlist.
SAFE_GLOBALS = [
    HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'),
    *_numpy_globals()
]

torch.serialization.add_safe_globals(SAFE_GLOBALS)
