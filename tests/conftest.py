"""Fixtures shared by the tests (helpers live in tests/utils.py)."""
import pytest
import torch


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread for a module that builds many models: on a busy
    machine, two spin-waiting OpenMP threads make the first pass of each new
    model take seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
