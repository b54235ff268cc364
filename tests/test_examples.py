"""Every example runs (with --small) and prints what its docstring says,
so that none can rot."""

import shutil

import pytest
from conftest import DATA_DIR, ROOT, run_python

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


needs_newsgroups = pytest.mark.skipif(
    not (DATA_DIR / "scikit_learn_data").is_dir(),
    reason=f"20 Newsgroups cache not found in {DATA_DIR}",
)


def run_example(name, *args):
    """Run ``examples/<name>.py --small ARGS``; returns its standard output."""
    return run_python(EXAMPLES / f"{name}.py", "--small", *args)


def test_every_example_has_a_test_and_a_docstring():
    tested = {
        "quickstart_digits",
        "compact_text_pipeline",
        "grid_search_bits",
        "export_without_torch",
        "export_to_c",
        "out_of_core_text",
    }
    scripts = {path.stem for path in EXAMPLES.glob("*.py")}
    assert scripts == tested
    for name in scripts:
        source = (EXAMPLES / f"{name}.py").read_text()
        assert source.startswith('"""') and "Run it" in source and "--small" in source


def test_quickstart_digits():
    out = run_example("quickstart_digits")
    assert "teacher" in out and "student" in out and "MLPClassifier" in out
    assert "pickled" in out and "smaller than the MLPClassifier" in out


@needs_newsgroups
def test_compact_text_pipeline():
    out = run_example("compact_text_pipeline", "--data-dir", str(DATA_DIR))
    assert "HashingVectorizer -> ProjectionNet" in out
    assert "whole pipeline dumped" in out


def test_grid_search_bits(tmp_path):
    png = tmp_path / "bits.png"
    out = run_example("grid_search_bits", "--out", str(png))
    assert "best n_bits" in out
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_export_without_torch():
    out = run_example("export_without_torch")
    assert "import torch fails" in out
    assert "torch loaded: False" in out
    assert "identical to the training process's: True" in out


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
def test_export_to_c():
    out = run_example("export_to_c")
    assert "C labels identical to predict's: True" in out
    assert "compiled (text + data)" in out and "rows/s: C" in out


@needs_newsgroups
def test_out_of_core_text():
    out = run_example("out_of_core_text", "--data-dir", str(DATA_DIR))
    assert "pass 2: 6 chunks, 1200 documents seen" in out
    assert "peak memory" in out
