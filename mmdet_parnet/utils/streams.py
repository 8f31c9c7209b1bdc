"""ParNet's three streams run concurrently on the CPU, each on its own thread
with its own intra-op thread budget: the paper's parallelism claim, as a
forward that leaves ParNet's own (sequential) forward untouched.

Why Python threads: every ATen op releases the GIL while it computes, so
convolutions issued from different Python threads run at the same time; and
with PyTorch's OpenMP backend ``torch.set_num_threads`` called in a thread
sets the OpenMP team size *of that thread* (the calling thread's ``nthreads``
ICV), so each stream gets its own budget. The alternatives do not give that:
``torch.jit.fork`` runs its function synchronously in eager mode, and in a
scripted module the forked tasks run on the inter-op pool with the one
process-wide intra-op setting, so the streams cannot be given separate
budgets. The price is the GIL between ops (Python-side overhead of the
streams is serialised) and oversubscription when the budgets add up to more
threads than cores.

Grad mode, inference mode and autocast are thread-local in PyTorch: the
caller's are re-applied in each worker thread.
"""
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

#: Multiply-adds of each worker's share, relative: a stream block costs
#: H*W*C^2, and from one stream to the next H*W quarters while C doubles
#: (every arch has C2 = 2 C1, C3 = 4 C1); stream 1 has 4 blocks plus
#: ``down1`` (0.9), streams 2 and 3 have 5 blocks (1, 1); the default
#: budgets follow these weights.
DEFAULT_WEIGHTS = (0.9, 1.0, 1.0)


def split_threads(
        total: int,
        weights: Sequence[float] = DEFAULT_WEIGHTS) -> Tuple[int, ...]:
    """Thread budgets for the streams: ``total`` threads split in proportion
    to ``weights`` (largest remainder), at least one each, so that with
    fewer threads than streams every stream gets one (oversubscribed)."""
    if total < 1:
        raise ValueError(f'total threads must be >= 1, got {total}')
    n = len(weights)
    if total <= n:
        return (1, ) * n
    shares = [total * w / sum(weights) for w in weights]
    budgets = [max(1, int(s)) for s in shares]
    order = sorted(range(n), key=lambda i: shares[i] - int(shares[i]),
                   reverse=True)
    for i in order[:max(0, total - sum(budgets))]:
        budgets[i] += 1
    return tuple(budgets)


class _Worker:
    """One thread that runs tasks with its own intra-op thread budget."""

    def __init__(self, threads: int, name: str) -> None:
        self.threads = threads
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    def _run(self, fn, args, grad: bool, inference: bool,
             autocast_dtype: Optional[torch.dtype]):
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)  # this thread's team only
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode(inference))
            if not inference:
                stack.enter_context(torch.set_grad_enabled(grad))
            if autocast_dtype is not None:
                stack.enter_context(
                    torch.autocast('cpu', dtype=autocast_dtype))
            return fn(*args)

    def submit(self, fn, *args):
        autocast = (torch.get_autocast_dtype('cpu')
                    if torch.is_autocast_enabled('cpu') else None)
        return self.pool.submit(self._run, fn, args, torch.is_grad_enabled(),
                                torch.is_inference_mode_enabled(), autocast)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class ConcurrentStreams(nn.Module):
    """A ParNet whose streams run concurrently; outputs equal the backbone's
    own forward (same modules, same inputs, same ops per stream).

    The stem runs on the calling thread with the caller's threads, and hands
    each stream to its own worker thread as soon as the stream's input is
    ready: stream 1 followed by ``down1`` (started while the stem's last two
    layers still run), stream 2, stream 3, each with its budget of
    ``threads`` intra-op threads. The fusions and the final layer run on the
    calling thread once all three are done.

    Args:
        backbone (ParNet): The backbone (either form); not modified.
        threads (Sequence[int] | int, optional): Intra-op threads of each
            stream, or a total to split (:func:`split_threads`). Defaults to
            the caller's ``torch.get_num_threads()`` split.

    Example:
        >>> streams = ConcurrentStreams(parnet.eval(), threads=4)
        >>> with torch.inference_mode():
        ...     outs = streams(img)  # == parnet(img)
        >>> streams.close()
    """

    def __init__(self, backbone: nn.Module, threads=None) -> None:
        super().__init__()
        for name in ('stem', 'streams', 'down1', 'fusion1', 'fusion2'):
            if not hasattr(backbone, name):
                raise TypeError(f'ConcurrentStreams needs a ParNet backbone '
                                f'(no {name!r} in {type(backbone).__name__})')
        self.backbone = backbone
        if threads is None:
            threads = torch.get_num_threads()
        if isinstance(threads, int):
            threads = split_threads(threads)
        threads = tuple(int(t) for t in threads)
        if len(threads) != len(backbone.streams) or min(threads) < 1:
            raise ValueError(f'give one positive thread budget per stream '
                             f'({len(backbone.streams)}), got {threads}')
        self.threads = threads
        self._workers: List[_Worker] = []
        self._lock = threading.Lock()

    def _ensure_workers(self) -> List[_Worker]:
        with self._lock:
            if not self._workers:
                self._workers = [
                    _Worker(t, f'parnet-stream{i + 1}')
                    for i, t in enumerate(self.threads)
                ]
        return self._workers

    def _stream1(self, path1: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        stream1 = self.backbone.streams[0](path1)
        return stream1, self.backbone.down1(stream1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        net = self.backbone
        h, w = x.shape[-2:]
        if h % net.size_divisor or w % net.size_divisor:
            raise ValueError(f'ParNet needs an input whose height and width '
                             f'are multiples of {net.size_divisor}, got '
                             f'{h}x{w}')
        if net.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        workers = self._ensure_workers()
        path1 = net.stem[1](net.stem[0](x))
        job1 = workers[0].submit(self._stream1, path1)
        path2 = net.stem[2](path1)
        job2 = workers[1].submit(net.streams[1], path2)
        path3 = net.stem[3](path2)
        job3 = workers[2].submit(net.streams[2], path3)
        (stream1, down1), stream2, stream3 = (job1.result(), job2.result(),
                                              job3.result())
        return net.fuse_streams(stream1, down1, stream2, stream3)

    def close(self) -> None:
        """Stop the worker threads (they restart on the next call)."""
        with self._lock:
            for worker in self._workers:
                worker.close()
            self._workers = []

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass
