"""Part 3: ParNet's three streams run concurrently against its
sequential forward."""
import copy

import torch
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope

from ...utils.streams import ConcurrentStreams, split_threads
from .common import median, note
from .latency import time_entries


def streams_study(specs, sizes, core_counts, rounds, warmup) -> list:
    """Sequential (ParNet's forward, all threads) against concurrent streams
    (each with its share), deployed + channels-last, per arch, size and
    thread count."""
    rows = []
    parnets = {}
    for spec in specs:
        if spec.coco.model.backbone.type != 'ParNet':
            continue
        init_default_scope('mmdet')
        net = MODELS.build(copy.deepcopy(spec.coco.model.backbone)).eval()
        net.switch_to_deploy()
        net.channels_last = True
        parnets[spec.name] = net
    threads_before = torch.get_num_threads()
    for cores in core_counts:
        torch.set_num_threads(cores)
        budgets = split_threads(cores)
        entries, concurrent = {}, []
        for name, net in parnets.items():
            streams = ConcurrentStreams(net, budgets)
            concurrent.append(streams)
            for size in sizes:
                x = torch.rand(1, 3, size, size)
                with torch.inference_mode():
                    same = all(
                        torch.allclose(a, b, rtol=1e-4, atol=1e-5)
                        for a, b in zip(net(x), streams(x)))
                if not same:
                    note(f'{name} at {size}: concurrent outputs differ from '
                         f'the sequential forward')
                entries[(name, size, 'sequential')] = \
                    lambda n=net, x=x: n(x)
                entries[(name, size, 'concurrent')] = \
                    lambda s=streams, x=x: s(x)
        times = time_entries(entries, rounds, warmup,
                             f'streams, {cores} threads')
        for streams in concurrent:
            streams.close()
        for name in parnets:
            for size in sizes:
                seq = median(times[(name, size, 'sequential')])
                con = median(times[(name, size, 'concurrent')])
                rows.append(dict(arch=name, size=size, threads=cores,
                                 budgets=list(budgets), sequential_ms=seq *
                                 1e3, concurrent_ms=con * 1e3,
                                 speedup=seq / con))
    torch.set_num_threads(threads_before)
    return rows
