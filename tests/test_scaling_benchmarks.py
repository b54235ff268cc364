"""The scaling benchmarks run (``--small``) on the real data."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "module, expected",
    [
        ("out_of_core", ["partial_fit, 4x stream", "fit, whole corpus"]),
        ("distill_and_weights", ["fitted LinearSVC", "| sms_spam | balanced |"]),
    ],
)
def test_scaling_benchmark_runs(data_dir, module, expected):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--small", "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for text in expected:
        assert text in done.stdout
