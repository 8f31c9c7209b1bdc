"""ParNet's streams run concurrently give exactly the sequential forward's
outputs, in both forms, with and without gradients."""
import threading

import pytest
import torch
import torch.nn as nn

from mmdet_parnet import ParNet
from mmdet_parnet.utils.streams import ConcurrentStreams, split_threads

ARCH = dict(widths=(8, 16, 32, 32), num_blocks=(2, 2, 2))
ALL_TAPS = tuple(range(7))


@pytest.fixture
def streams_of():
    made = []

    def make(net, threads=(1, 1, 1)):
        made.append(ConcurrentStreams(net, threads))
        return made[-1]

    yield make
    for streams in made:
        streams.close()


def test_split_threads():
    assert split_threads(1) == (1, 1, 1)
    assert split_threads(2) == (1, 1, 1)  # oversubscribed, one each
    for total in (3, 4, 7, 16, 64):
        budgets = split_threads(total)
        assert sum(budgets) == total and min(budgets) >= 1
    assert split_threads(6, (1, 1, 1)) == (2, 2, 2)
    with pytest.raises(ValueError):
        split_threads(0)


@pytest.mark.parametrize('deploy', [False, True])
def test_equals_sequential_forward(deploy, one_thread, streams_of):
    torch.manual_seed(0)
    net = ParNet(ARCH, out_indices=ALL_TAPS).eval()
    if deploy:
        net.switch_to_deploy()
        net.channels_last = True
    streams = streams_of(net)
    x = torch.rand(1, 3, 64, 96)
    with torch.inference_mode():
        expected, got = net(x), streams(x)
    assert len(got) == len(expected) == 7
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
        assert a.is_contiguous(memory_format=torch.channels_last) == \
            b.is_contiguous(memory_format=torch.channels_last)
    # twice, to reuse the worker threads
    with torch.inference_mode():
        assert all(torch.equal(a, b) for a, b in zip(net(x), streams(x)))


def test_gradients_flow_through_worker_threads(one_thread, streams_of):
    torch.manual_seed(0)
    net = ParNet(ARCH).eval()
    streams = streams_of(net)
    x = torch.rand(2, 3, 64, 64)
    expected = net(x)
    sum(o.sum() for o in expected).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    got = streams(x)
    assert all(o.requires_grad for o in got)
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    sum(o.sum() for o in got).backward()
    # the backward sums a tensor's gradients in the order autograd meets
    # its users, which may differ: equal up to rounding
    for grad, param in zip(grads, net.parameters()):
        torch.testing.assert_close(param.grad, grad)


def test_mixed_budgets_and_caller_threads(one_thread, streams_of):
    """Each stream's budget stays in its worker: the caller keeps its own
    thread count; results agree up to the kernels' rounding."""
    net = ParNet(ARCH).eval()
    streams = streams_of(net, (2, 1, 1))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected, got = net(x), streams(x)
    assert not any(o.requires_grad for o in got)
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert torch.get_num_threads() == 1
    names = {t.name for t in threading.enumerate()}
    assert any(n.startswith('parnet-stream') for n in names)
    streams.close()
    names = {t.name for t in threading.enumerate()}
    assert not any(n.startswith('parnet-stream') for n in names)


def test_rejects_bad_use():
    with pytest.raises(TypeError, match='ParNet'):
        ConcurrentStreams(nn.Conv2d(3, 3, 1))
    net = ParNet(ARCH).eval()
    with pytest.raises(ValueError, match='one positive thread budget'):
        ConcurrentStreams(net, (1, 1))
    streams = ConcurrentStreams(net, 3)
    assert streams.threads == (1, 1, 1)
    with pytest.raises(ValueError, match='multiples of 32'):
        streams(torch.rand(1, 3, 48, 64))
    streams.close()
