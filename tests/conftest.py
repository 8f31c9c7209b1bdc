"""Shared test helpers: loading the scripts under tools/ as modules."""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_tool(relative_path: str):
    """Import a script under the repository's tools/ folder as a module."""
    path = REPO / 'tools' / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo_root() -> Path:
    return REPO
