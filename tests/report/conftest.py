"""Fixtures for the report tests: a private copy of the small recorded run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

RECORDED_RUN = Path(__file__).parents[1] / "fixtures" / "small_run"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A writable copy of ``tests/fixtures/small_run`` (a real 60 s Locust run)."""
    copy = tmp_path / "run"
    shutil.copytree(RECORDED_RUN, copy)
    return copy
