"""The benchmark suite runs and writes its results; its helpers are right.

The quick digits run takes seconds; the whole --quick suite on the real
data (``../shared/data``) is marked slow.
"""

import csv
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import HashingVectorizer

from benchmarks import (
    datasets,
    epoch_threads,
    linear_ceiling,
    measure,
    pipeline_speed,
    report,
    speed,
    systems,
    targets,
    validation,
)
from sklearn_pnet import FastHashingVectorizer

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SHARED_DATA = ROOT.parent / "shared" / "data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_benchmark(*args, timeout=600):
    """``python benchmarks/run.py ARGS`` from the project root."""
    env = dict(os.environ)
    env.pop("SKLEARN_PNET_DATA", None)  # only what the arguments say
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_outputs(out, datasets):
    """The files of a run exist and agree with each other."""
    for name in ("RESULTS.md", "results.csv", "results.json"):
        assert (out / name).is_file(), name
    with open(out / "results.json") as f:
        payload = json.load(f)
    with open(out / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    results = payload["results"]
    assert len(csv_rows) == len(results) > 0
    assert {r["dataset"] for r in results} == set(datasets)
    assert payload["meta"]["failed"] == []
    for row in results:
        assert 0 <= row["accuracy"] <= 1
        assert row["model_bytes"] > 0 and row["fit_seconds"] >= 0
        assert row["predict_rows_per_s"] > 0
    markdown = (out / "RESULTS.md").read_text()
    for dataset in datasets:
        assert f"## {dataset}" in markdown
        for kind in ("bytes", "bits"):
            png = out / "plots" / f"{dataset}_accuracy_vs_{kind}.png"
            assert png.read_bytes()[:8] == PNG_SIGNATURE
            assert f"(plots/{png.name})" in markdown
    return payload


@pytest.mark.integration
def test_quick_digits_run_writes_results(tmp_path):
    done = run_benchmark("--quick", "--datasets", "digits", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = check_outputs(tmp_path, ["digits"])
    assert payload["meta"]["mode"] == "quick"
    families = {r["family"] for r in payload["results"]}
    for family in (
        "ProjectionNet random",
        "ProjectionNet trained",
        "Student alone random",
        "Student alone trained",
        "ProjectionNet (default settings)",
        "Teacher",
        "LogisticRegression",
        "LinearSVC",
        "MLPClassifier",
        "SparseRandomProjection + LR",
    ):
        assert family in families
    # Text-only systems do not run on images.
    assert not any(f.startswith(("HashingVectorizer", "fastText")) for f in families)
    bits = {r["n_bits"] for r in payload["results"] if r["family"] == "ProjectionNet random"}
    assert bits == {64, 720}
    # The student's size excludes its kept teacher; same bits, same size.
    sizes = {
        r["family"]: r["model_bytes"]
        for r in payload["results"]
        if r["n_bits"] == 64 and r["family"].endswith("random")
    }
    assert sizes["ProjectionNet random"] == sizes["Student alone random"] < 10_000
    assert "ratios against MLPClassifier" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is missing")
def test_whole_quick_suite_on_real_data(tmp_path):
    done = run_benchmark(
        "--quick", "--data-dir", str(SHARED_DATA), "--out", str(tmp_path), timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = check_outputs(tmp_path, datasets.suite())
    text_families = {r["family"] for r in payload["results"] if r["dataset"] == "20news"}
    assert {
        "HashingVectorizer(2^18) + SGD",
        "HashingVectorizer(2^18) + SGD, sparsify()",
    } <= text_families
    # fastText runs, or its skip says why.
    assert "fastText quantized" in text_families or any(
        "fastText" in s for s in payload["meta"]["skipped"]
    )
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "the ProjectionNet paper's points" in markdown and "92.3%" in markdown
    mnist_bits = {r["n_bits"] for r in payload["results"] if r["dataset"] == "mnist"}
    assert 100 in mnist_bits


# ------------------------------------------------------------------ helpers


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_loader_reads_idx_files_of_the_data_dir(tmp_path):
    rng = np.random.RandomState(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.randint(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    data = datasets.load("mnist", tmp_path)
    assert data.X_train.shape == (30, 784) and data.X_test.shape == (10, 784)
    assert data.X_train.dtype == np.float32 and 0 <= data.X_train.min() <= data.X_train.max() <= 1
    np.testing.assert_array_equal(data.y_test, np.arange(10))
    # --quick subsamples, stratified, the same rows every time.
    small = datasets.load("mnist", tmp_path, n_train=20, n_test=None)
    again = datasets.load("mnist", tmp_path, n_train=20, n_test=None)
    assert len(small.y_train) == 20 and set(small.y_train) == set(range(10))
    np.testing.assert_array_equal(small.X_train, again.X_train)


def test_data_dir_falls_back_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(tmp_path))
    assert datasets.resolve_data_dir() == tmp_path
    assert datasets.resolve_data_dir("elsewhere") == Path("elsewhere")
    monkeypatch.delenv(datasets.DATA_DIR_VARIABLE)
    assert datasets.resolve_data_dir() is None


def test_latest_split_holds_out_the_latest_documents_of_each_class():
    y = np.array([0] * 5 + [1] * 5)
    order = np.array([50, 10, 40, 20, 30, 5, 4, 3, 2, 1])
    X = np.arange(10).astype(object)
    data = datasets.Dataset(X, X[:0], y, y[:0], "toy", order, name="toy", kind="text")
    X_fit, X_val, y_fit, y_val = validation.latest_split(data)
    # Per class, the highest article number is the 20% held out.
    assert list(X_val) == [0, 5]
    assert list(y_val) == [0, 1]
    assert sorted(X_fit) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert list(y_fit) == [0, 0, 0, 0, 1, 1, 1, 1]
    data.train_order = None
    with pytest.raises(SystemExit, match="no posting order"):
        validation.latest_split(data)


def test_trec_and_sms_parsers(tmp_path):
    trec = tmp_path / "trec.label"
    # TREC is Latin-1: a byte that is not valid UTF-8 must load.
    trec.write_bytes(
        "NUM:date When was Caf\xe9 Society made ?\nHUM:ind Who is he ?\n".encode("latin-1")
    )
    with open(trec, encoding="latin-1") as f:
        questions, labels = datasets.parse_trec(f)
    assert list(labels) == ["NUM", "HUM"]
    assert questions[0] == "When was Caf\xe9 Society made ?"
    messages, labels = datasets.parse_sms(["ham\tHi there\n", "spam\tWIN\ta prize\n", "\n"])
    assert list(labels) == ["ham", "spam"] and messages[1] == "WIN\ta prize"


def _serve(tmp_path, files):
    """``files`` ({name: bytes}) in a folder, and its ``file://`` URL:
    downloads without a network (``fetch_file`` wants a host name)."""
    remote = tmp_path / "remote"
    remote.mkdir()
    for name, data in files.items():
        (remote / name).write_bytes(data)
    return f"file://localhost{remote}/"


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """An empty scikit-learn data home, and no data directory."""
    home = tmp_path / "scikit_learn_data"
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(home))
    monkeypatch.delenv(datasets.DATA_DIR_VARIABLE, raising=False)
    return home


TREC_TRAIN = b"NUM:date When was Caf\xe9 Society made ?\nHUM:ind Who is he ?\n"
TREC_TEST = b"LOC:city Where is Paris ?\n"


def test_trec_download_is_checked(tmp_path, data_home, monkeypatch):
    files = {"train_5500.label": TREC_TRAIN, "TREC_10.label": TREC_TEST}
    monkeypatch.setattr(datasets, "TREC_URL", _serve(tmp_path, files))
    monkeypatch.setattr(
        datasets, "TREC_SHA256", {name: _sha256(data) for name, data in files.items()}
    )
    data = datasets.load("trec")
    assert list(data.y_train) == ["NUM", "HUM"] and list(data.y_test) == ["LOC"]
    assert data.kind == "text"
    assert (data_home / "trec" / "TREC_10.label").read_bytes() == TREC_TEST

    wrong = dict(datasets.TREC_SHA256, **{"TREC_10.label": "0" * 64})
    monkeypatch.setattr(datasets, "TREC_SHA256", wrong)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "other_home"))
    with pytest.raises(OSError, match="SHA256 checksum of TREC_10.label"):
        datasets.load("trec")


def _sms_archive(text):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("SMSSpamCollection", text)
        z.writestr("readme", b"SMS Spam Collection v.1")
    return buffer.getvalue()


def test_sms_download_checks_the_extracted_file(tmp_path, data_home, monkeypatch):
    text = "".join(f"{label}\tmessage {i}\n" for i, label in enumerate(["ham", "spam"] * 4))
    archive = _sms_archive(text.encode())
    url = _serve(tmp_path, {"sms.zip": archive}) + "sms.zip"
    monkeypatch.setattr(datasets, "SMS_URL", url)
    monkeypatch.setattr(datasets, "SMS_SHA256", _sha256(text.encode()))
    data = datasets.load("sms_spam")
    assert len(data.y_train) == 6 and len(data.y_test) == 2 and data.source == url
    assert (data_home / "sms_spam" / "SMSSpamCollection").read_text() == text

    # Against another checksum, the extracted file is refused, and so is
    # the archive's copy: nothing is written.
    monkeypatch.setattr(datasets, "SMS_SHA256", "0" * 64)
    with pytest.raises(OSError, match="SHA256 checksum of SMSSpamCollection"):
        datasets.load("sms_spam")
    assert (data_home / "sms_spam" / "SMSSpamCollection").read_text() == text

    # Once extracted and checked, the file is used as it is, without a download.
    monkeypatch.setattr(datasets, "SMS_SHA256", _sha256(text.encode()))
    (data_home / "sms_spam" / "smsspamcollection.zip").unlink()
    (tmp_path / "remote" / "sms.zip").unlink()
    assert len(datasets.load("sms_spam").y_train) == 6


def test_ratios_compare_with_the_reference_of_the_same_dataset():
    frame = report.results_frame(
        [
            {
                "dataset": "d",
                "system": "MLPClassifier",
                "family": "MLPClassifier",
                "accuracy": 0.9,
                "model_bytes": 1000,
                "fit_seconds": 2.0,
                "predict_rows_per_s": 100.0,
            },
            {
                "dataset": "d",
                "system": "small",
                "family": "small",
                "accuracy": 0.85,
                "model_bytes": 10,
                "fit_seconds": 1.0,
                "predict_rows_per_s": 400.0,
            },
        ]
    )
    ratios = report.ratio_rows(frame, "MLPClassifier").set_index("system")
    assert ratios.loc["small", "x smaller"] == pytest.approx(100)
    assert ratios.loc["small", "d acc (pts)"] == pytest.approx(-5)
    assert ratios.loc["small", "x predict rate"] == pytest.approx(4)
    assert ratios.loc["small", "x fit time"] == pytest.approx(0.5)
    assert report.ratio_rows(frame, "LinearSVC") is None
    assert "| small | 100 | -5.0 | 4 | 0.5 |" in report.ratio_table(frame, "MLPClassifier")


def test_peak_memory_sees_an_allocation():
    with measure.PeakMemory() as memory:
        block = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
        del block
    assert memory.fit_mem_mb > 30
    assert memory.method in ("VmHWM", "tracemalloc")


def test_dataset_registry_entries_are_consistent():
    assert datasets.suite(), "run.py would measure nothing"
    for name, entry in datasets.DATASETS.items():
        assert entry.name == name
        assert entry.kind in datasets.KINDS
        assert all(isinstance(b, int) and b > 0 for b in entry.extra_budgets)
    with pytest.raises(ValueError, match="kind 'audio'"):
        datasets.DatasetEntry("speech", "audio", datasets.load_digits_split)
    digits = datasets.DATASETS["digits"]
    with pytest.raises(ValueError, match="registered twice"):
        datasets._by_name([digits, digits])
    # The kind says what the loader gives: pixels in [0, 1] for images.
    data = datasets.load("digits")
    assert data.kind == digits.kind == "image"
    assert data.X_train.dtype == np.float32 and 0 <= data.X_train.min() <= data.X_train.max() <= 1


def test_system_registry_entries_are_consistent():
    families = [family for system in systems.SYSTEMS for family in system.families]
    assert len(families) == len(systems.FAMILIES), "a family name is used twice"
    suite = [datasets.DATASETS[name] for name in datasets.suite()]
    for system in systems.SYSTEMS:
        assert system.kinds and set(system.kinds) <= set(datasets.KINDS), system.name
        assert set(getattr(system, "datasets", None) or ()) <= set(datasets.DATASETS), system.name
        assert any(system.applies_to(entry) for entry in suite), f"{system.name} never runs"
        assert isinstance(system.available(), bool)
        sweep = getattr(system, "sweep", False)
        assert getattr(system, "budgets", None) is None or sweep, system.name
        own = system.families[0]
        assert own.name == system.name
        # A curve joins a family's budgets; a level, a reference and the
        # paper's full network are one row.
        assert own.curve is None or sweep, system.name
        assert own.paper != "bits" or sweep, system.name
        assert not sweep or (own.level is None and own.reference is None), system.name
        assert not sweep or own.paper != "full", system.name
    ranks = sorted(f.reference for f in families if f.reference is not None)
    assert ranks == list(range(1, len(ranks) + 1))
    groups = {f.equal_bytes for f in families} - {None}
    assert groups == set(report.EQUAL_BYTES_GROUPS), "an equal-bytes row with no family"
    with pytest.raises(ValueError, match="paper="):
        report.Family("x", paper="720 bits")
    with pytest.raises(ValueError, match="equal-bytes group"):
        report.Family("x", equal_bytes="Tiny models")
    with pytest.raises(ValueError, match="not both"):
        report.Family("x", curve="-", level=":")


def _row(system, family, accuracy, model_bytes, n_bits=None):
    return {
        "dataset": "mnist",
        "system": system,
        "family": family,
        "n_bits": n_bits,
        "accuracy": accuracy,
        "model_bytes": model_bytes,
        "fit_seconds": 1.0,
        "predict_rows_per_s": 100.0,
        "params": f"{family}()",
    }


def test_report_places_each_family_by_its_fields(tmp_path):
    # Made-up names: only the fields can place them. "Plain" has none and
    # "Unknown" is not registered at all (rows of an older run).
    families = {
        "Curve": report.Family(
            "Curve", color="#123456", marker="o", curve="--", paper="bits", equal_bytes="HashedNets"
        ),
        "Full": report.Family(
            "Full", level=":", reference=1, paper="full", equal_bytes="MLPClassifier"
        ),
        "Peer": report.Family("Peer", reference=2, equal_bytes="Linear models"),
        "Plain": report.Family("Plain"),
    }
    frame = report.results_frame(
        [
            _row("Curve 100 bits", "Curve", 0.70, 2000, 100),
            _row("Curve 720 bits", "Curve", 0.90, 9000, 720),
            _row("Full", "Full", 0.98, 900_000),
            _row("Peer", "Peer", 0.92, 60_000),
            _row("Plain 100 bits", "Plain", 0.80, 3000, 100),
            _row("Unknown", "Unknown", 0.50, 500),
        ]
    )
    assert report.references(families) == ["Full", "Peer"]

    # The paper's points (80-100 bits, 720 bits, full network), ours beside.
    paper = report.paper_table(frame, families).splitlines()[2:]
    assert [row.split(" | ")[2] for row in paper] == [
        "Curve 100 bits: 70.0% (2,000 B) |",
        "Curve 720 bits: 90.0% (9,000 B) |",
        "Full: 98.0% (900,000 B) |",
    ]

    table = report.equal_bytes_table(frame, "mnist", families).splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == [
        "| HashedNets",
        "| Linear models",
        "| MLPClassifier",
    ]
    assert "Curve 720 bits" in table[2] and "Plain" not in "".join(table)
    assert report.equal_bytes_table(frame.assign(dataset="digits"), "digits", families) is None

    fig, (bits, bytes_) = plt.subplots(1, 2)
    report.draw_accuracy_vs_bits(bits, frame, "mnist", families)
    assert [line.get_label() for line in bits.get_lines()] == ["Curve", "Full"]
    assert [line.get_linestyle() for line in bits.get_lines()] == ["--", ":"]
    assert bits.get_lines()[0].get_color() == "#123456"
    report.draw_accuracy_vs_bytes(bytes_, frame, "mnist", families)
    joined = {line.get_label(): line.get_linestyle() for line in bytes_.get_lines()}
    assert joined == {
        "Curve": "-",
        "Full": "None",
        "Peer": "None",
        "Plain": "None",
        "Unknown": "None",
    }
    plt.close(fig)

    meta = {
        "commands": ["python benchmarks/run.py --quick"],
        "date": "today",
        "mode": "quick",
        "total_seconds": 1.0,
        "machine": "here",
        "versions": "these",
        "commit": "abc",
        "skipped": [],
        "failed": [],
    }
    report.write_markdown(frame, meta, {"mnist": "Toy data."}, {}, tmp_path, families)
    markdown = (tmp_path / "RESULTS.md").read_text()
    order = [
        "## MNIST: the ProjectionNet paper's points",
        "## mnist: ProjectionNet, HashedNets and compressed students at equal bytes",
        "Ratios against Full",
        "Ratios against Peer",
        "## Settings",
    ]
    assert [markdown.index(heading) for heading in order] == sorted(
        markdown.index(heading) for heading in order
    )


def test_committed_results_are_what_the_report_writes(tmp_path):
    # The committed RESULTS.md, results.csv and results.json, written again
    # from results.json by this code: the same bytes (the plots are not
    # drawn, only linked).
    with open(BENCHMARKS / "results.json") as f:
        payload = json.load(f)
    meta = payload["meta"]
    frame = report.results_frame(payload["results"])
    plots = {
        dataset: [
            tmp_path / "plots" / f"{dataset}_accuracy_vs_{kind}.png" for kind in ("bytes", "bits")
        ]
        for dataset in meta["dataset_info"]
    }
    report.write_machine_readable(frame, meta, tmp_path)
    report.write_markdown(frame, meta, meta["dataset_info"], plots, tmp_path, systems.FAMILIES)
    for name in ("RESULTS.md", "results.csv", "results.json"):
        assert (tmp_path / name).read_bytes() == (BENCHMARKS / name).read_bytes(), name


def test_results_frame_keeps_integer_columns():
    frame = report.results_frame(
        [{"n_bits": 64, "model_bytes": 10}, {"n_bits": None, "model_bytes": 20}]
    )
    assert list(frame.columns) == report.COLUMNS
    assert str(frame["n_bits"].dtype) == "Int64" and pd.isna(frame["n_bits"][1])


def test_targets_report_marks_goals_and_comparison_points(tmp_path):
    # A row with a goal says whether it was met; a comparison point
    # (goal=None, e.g. the paper's random projection) is only reported.
    from sklearn.linear_model import LogisticRegression

    digits = datasets.load("digits")
    target = targets.TARGETS[0]
    rows = [
        (target, targets._accuracy_target(label, LogisticRegression, digits, goal))
        for label, goal in [("reached", 0.5), ("missed", 0.999), ("compared", None)]
    ]
    assert [r["passed"] for _, r in rows] == [True, False, None]
    out = tmp_path / "TARGETS.md"
    targets.write_report(rows, "python benchmarks/targets.py", 1.0, out)
    table = {line.split(" | ")[3]: line for line in out.read_text().splitlines() if " | " in line}
    assert table["reached"].endswith("| yes |")
    assert table["missed"].endswith("| **no** |")
    assert table["compared"].endswith("|  |")


def test_pipeline_speed_times_every_pipeline_on_raw_text():
    rng = np.random.default_rng(0)
    words = np.array(["apple", "bread", "cloud", "delta", "earth", "flame", "grape", "house"])
    X = [" ".join(rng.choice(words, size=12)) for _ in range(60)]
    y = np.arange(60) % 3
    models = pipeline_speed.pipelines(slots=(8, 2), n_bits=16, n_weights=64, linear_buckets=32)
    rates = pipeline_speed.rows_per_second(models, X[:40], y[:40], X[40:], n_latency_calls=20)
    assert list(rates) == [
        "ProjectionNet, 8 slots per word",
        "ProjectionNet, 2 slots per word",
        "ProjectionNet, 8 slots per word, no linear path",
        "LinearSVC",
        "LinearSVC after FastHashingVectorizer",
    ]
    assert all(rate > 0 and latency > 0 for rate, latency in rates.values())
    # The target's pipeline counts words with the compiled front end; the
    # peer of issue #12 with scikit-learn's.
    assert isinstance(models["ProjectionNet, 8 slots per word"][0][0], FastHashingVectorizer)
    assert type(models["LinearSVC"][0]) is HashingVectorizer
    first = models["ProjectionNet, 8 slots per word"][-1]
    assert first.projector_.n_slots_ == 8 and first.linear_path_.n_buckets == 32
    assert models["ProjectionNet, 8 slots per word, no linear path"][-1].linear_path_ is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_speed_reports_every_system_and_the_numpy_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(speed, "N_LATENCY_CALLS", 20)
    monkeypatch.setattr(speed, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(speed, "SYSTEMS", {k: speed.SYSTEMS[k] for k in list(speed.SYSTEMS)[:2]})
    speed.main(["--datasets", "digits", "--max-iter", "2", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "speed.json").read_text())["rows"]
    assert [r["system"] for r in rows] == list(speed.SYSTEMS)
    ours, peer = rows
    assert ours["n_iter"] == 2 and ours["accuracy"] > 0.5
    # digits is dense: the kernel is for sparse input, but the fallback row is
    # measured whenever the kernel is built.
    assert ours["predict_rows_per_s_numpy"] > 0 and peer["predict_rows_per_s_numpy"] is None
    report = (tmp_path / "SPEED.md").read_text()
    assert "over each peer" in report and "without the compiled kernel" in report


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_epoch_threads_times_each_way_and_restores_the_threads(capsys):
    from sklearn_pnet import _training

    before = _training.MAX_EPOCH_THREADS
    epoch_threads.main(["--repeats", "1"])
    assert _training.MAX_EPOCH_THREADS == before
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| one thread",
        "| default threads",
        "| 0.0 s after MLPClassifier's fit",
        "| 0.2 s after MLPClassifier's fit",
        "| 1.0 s after MLPClassifier's fit",
        "| right after MLPClassifier's fit on one BLAS thread",
    ]
    assert all(float(row.split(" | ")[1]) > 0 for row in rows[1:])


def test_linear_ceiling_folds_quantizes_and_trains_linear_models():
    import scipy.sparse as sp
    from sklearn.svm import LinearSVC

    fold = linear_ceiling.bucket_matrix(100)
    assert fold.shape == (2**20, 100)
    assert fold.nnz == 2**20 and set(np.unique(fold.data)) == {-1.0, 1.0}
    rng = np.random.default_rng(0)
    rows, columns = np.repeat(np.arange(120), 5), rng.integers(0, 2**20, 600)
    X = sp.csr_matrix((np.ones(600), (rows, columns)), shape=(120, 2**20)) @ fold
    y = np.asarray(X[:, :3].sum(axis=1) > 0).ravel().astype(int) + rng.integers(0, 2, 120) * 2
    idf = linear_ceiling.idf_of(X)
    assert idf.shape == (100,) and (idf >= 1).all()
    X = linear_ceiling.scaled(X, idf)
    model = LinearSVC().fit(X, y)
    coef = model.coef_.copy()
    quantized = linear_ceiling.quantized_accuracy(model, X, y, 2)
    assert 0 <= quantized <= 1
    np.testing.assert_array_equal(model.coef_, coef)  # restored
    curve = linear_ceiling.torch_linear_accuracies(X, y, X, y, "sgd", "hinge", epochs=20)
    assert curve.startswith("10: ") and ", 20: " in curve
