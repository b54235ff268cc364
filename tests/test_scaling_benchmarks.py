"""The scaling benchmarks run (``--small``) on the real data."""

import pytest
from conftest import run_python

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "module, expected",
    [
        ("out_of_core", ["partial_fit, 4x stream", "fit, whole corpus"]),
        ("distill_and_weights", ["fitted LinearSVC", "| sms_spam | balanced |"]),
    ],
)
def test_scaling_benchmark_runs(data_dir, module, expected):
    out = run_python("-m", f"benchmarks.{module}", "--small", "--data-dir", data_dir)
    for text in expected:
        assert text in out
