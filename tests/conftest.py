"""Shared fixtures: a tiny synthetic dataset in the official layout, and the CLI runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ucfdvs.cli import main
from ucfdvs.train.synthetic_features import SyntheticFeatureConfig, write_synthetic_features

SHARED = Path(__file__).resolve().parents[2] / "shared"
TINY = SyntheticFeatureConfig(n_train=64, n_test=8, median_snippets=30, min_snippets=8, max_snippets=60)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset (64 train: 2 or more of every class, 8 test videos, 8-60 snippets each); tests must not modify it."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    write_synthetic_features(root, TINY, seed=3)
    return root


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture):
    """Run `ucfdvs ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None,
                                reason="Lava (lava-nc) is not installed: a training-only install (no [lava] extra)")
"""Mark for tests that run Lava's simulator; they skip on a Lava-less install (e.g. Python 3.12)."""
