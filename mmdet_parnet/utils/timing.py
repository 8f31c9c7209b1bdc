"""Round-robin latency timing: every round calls each entry once, in the
same order, so a change of load hits all entries alike.

Before each timed call the process sleeps ``settle_s``: the thread pools of
the call before (PyTorch's OpenMP, ONNX Runtime's, OpenVINO's) keep spinning
for a while after they return, and on a 2-core CPU a call that starts
beside them is slowed. Measured at 256 on the demo's detector: eager
PyTorch right after ONNX Runtime 169 ms against 133 ms after a 50 ms pause,
OpenVINO right after ONNX Runtime 105 against 75 ms.
"""
import time
from typing import Callable, Dict, Hashable, Iterable, List, Optional

#: Pause before each timed call, seconds (enough for the pools measured).
SETTLE_S = 0.05


def round_robin(calls: Dict[Hashable, Callable[[], object]],
                rounds: int,
                warmup: int = 1,
                settle_s: float = SETTLE_S,
                progress: Optional[Callable[[Iterable], Iterable]] = None
                ) -> Dict[Hashable, List[float]]:
    """Seconds of each call in each of ``rounds`` timed rounds, after
    ``warmup`` untimed ones; ``progress`` wraps the iterable of rounds (a
    progress bar)."""
    times = {key: [] for key in calls}
    rounds_iter = range(warmup + rounds)
    for round_ in (progress(rounds_iter) if progress else rounds_iter):
        for key, call in calls.items():
            time.sleep(settle_s)
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[key].append(elapsed)
    return times
