"""How fast ProjectionNet is to make and to use, against its peers, in one run.

Run from the project root::

    python benchmarks/speed.py --data-dir ../shared/data
    python benchmarks/speed.py --data-dir ../shared/data --datasets digits trec --out /tmp/s
    python benchmarks/speed.py --data-dir ../shared/data --busy     # another CPU-bound process
    python benchmarks/speed.py --data-dir ../shared/data --profile 20news

For each dataset, on the same features (pixels, or the tf-idf of
``run.py``) and in the same process, every system of :data:`SYSTEMS` is
fitted with its default settings and measured: fit seconds, fit peak memory
(resident, VmHWM, its rise during the fit), predict rows/s on the whole test
set (best of several calls), one-row latency (median of 1,000 calls on
single test rows) and test accuracy. Ratios are ProjectionNet's figure over
each peer's, measured minutes apart on the same machine: the numbers this
report stands on, since a shared machine's absolute times move from run to
run. Threads are left as each library sets them (what a user gets). Each
fit starts after a pause of ``SETTLE_SECONDS``: OpenBLAS's threads spin
for about 0.2 s after a product (the previous system's predictions), and a
fit that starts while they spin shares the cores with them.

``--busy`` runs a CPU-bound process beside the fits (one spinning Python
process: half of a 2-core machine taken) to show how each system's fit
time suffers. ``--profile DATASET`` fits ProjectionNet once more under
ablations (no teacher, random projection) and cProfile, and prints where a
fit's time goes.

Writes ``SPEED.md`` (the tables and this run's settings) and ``speed.json``
into ``--out`` (default: ``benchmarks/out/speed``).
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import cProfile
import json
import multiprocessing
import os
import platform
import pstats
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC
from sklearn.utils.validation import _num_samples

if __package__ in (None, ""):
    # Run as a script (python benchmarks/speed.py): import the benchmarks
    # package, and the project's own sklearn_pnet, from the project root, as
    # python -m benchmarks.speed does.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.measure import PeakMemory, Timer, accuracy, best_rows_per_second
from benchmarks.run import features_of

# _torch_pnet and _training are imported here, before any fit is timed, as
# scikit-learn's modules are above: a fit imports its torch modules itself
# (so that prediction never loads torch), and compiling them took 6 ms of
# the first digits fit where Python writes no bytecode cache
# (PYTHONDONTWRITEBYTECODE).
from sklearn_pnet import ProjectionNetClassifier, _inference, _torch_pnet, _training  # noqa: F401

HERE = Path(__file__).resolve().parent
SEED = 0
N_LATENCY_CALLS = 1000
# A pause before each fit, for the threads of the system before to go
# idle: a default digits fit of ProjectionNet took 111 ms right after
# MLPClassifier's, 78 ms 0.2 s after it and 76 ms after 0.5 s or more, and
# 75 ms after an MLPClassifier fit on one BLAS thread (02:59, a throwaway
# script timing the fits, benchmarks/SPEED.md "Thirteenth session").
SETTLE_SECONDS = 1.0

# Every system with its default settings (and a seed); the first is ours.
SYSTEMS = {
    "ProjectionNet (defaults)": lambda: ProjectionNetClassifier(random_state=SEED),
    "LinearSVC": lambda: LinearSVC(random_state=SEED),
    "LogisticRegression": lambda: LogisticRegression(max_iter=1000),
    "MLPClassifier(256, early stopping)": lambda: MLPClassifier(
        hidden_layer_sizes=(256,), early_stopping=True, random_state=SEED
    ),
}
OURS = next(iter(SYSTEMS))
DEFAULT_DATASETS = ["digits", "mnist", "20news", "trec", "sms_spam"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS)
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--out", type=Path, default=HERE / "out" / "speed")
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process runs beside")
    parser.add_argument("--profile", metavar="DATASET", help="where ProjectionNet's fit time goes")
    parser.add_argument("--profile-epochs", type=int, default=3)
    parser.add_argument(
        "--max-iter", type=int, help="ProjectionNet's max_iter (default: its default)"
    )
    return parser.parse_args(argv)


def one_row_latency(predict, X, n_calls=N_LATENCY_CALLS):
    """Median seconds of ``predict`` on one row, over ``n_calls`` rows."""
    rows = [X[i : i + 1] for i in np.arange(n_calls) % _num_samples(X)]
    times = []
    for row in rows:
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(name, make, features):
    """Fit and use one system; returns its row of the report."""
    model = make()
    time.sleep(SETTLE_SECONDS)
    with warnings.catch_warnings():
        # Defaults are measured as they are, converged or not.
        warnings.simplefilter("ignore", ConvergenceWarning)
        with PeakMemory() as memory, Timer() as timer:
            model.fit(features.X_train, features.dataset.y_train)
    X_test = features.X_test
    rows_per_s, predicted = best_rows_per_second(model.predict, X_test, X_test.shape[0])
    numpy_rows_per_s = None
    if name == OURS and _inference.project_csr is not None:
        # What an install without a C compiler gets: the same sums in numpy.
        kernel, _inference.project_csr = _inference.project_csr, None
        try:
            numpy_rows_per_s = best_rows_per_second(model.predict, X_test, X_test.shape[0])[0]
        finally:
            _inference.project_csr = kernel
    return {
        "system": name,
        "fit_s": timer.seconds,
        "fit_peak_rss_mb": memory.peak_rss_mb,
        "fit_mem_mb": memory.fit_mem_mb,
        "predict_rows_per_s": rows_per_s,
        "predict_rows_per_s_numpy": numpy_rows_per_s,
        "latency_ms": 1000 * one_row_latency(model.predict, X_test),
        "accuracy": accuracy(features.dataset.y_test, predicted),
        "n_iter": int(np.max(getattr(model, "n_iter_", 0))),
    }


def _spin():
    while True:
        pass


def busy_process():
    """A process that keeps one core busy until terminated."""
    process = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    process.start()
    return process


def ratios(rows):
    """ProjectionNet's figures over each peer's, per dataset."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        of = {r["system"]: r for r in rows if r["dataset"] == dataset}
        if OURS not in of:
            continue
        ours = of[OURS]
        for peer, row in of.items():
            if peer == OURS:
                continue
            out.append(
                {
                    "dataset": dataset,
                    "peer": peer,
                    "fit_time": ours["fit_s"] / row["fit_s"],
                    "predict_rows_per_s": ours["predict_rows_per_s"] / row["predict_rows_per_s"],
                    "latency": ours["latency_ms"] / row["latency_ms"],
                    "fit_mem": ours["fit_mem_mb"] / max(row["fit_mem_mb"], 1e-9),
                    "accuracy_points": 100 * (ours["accuracy"] - row["accuracy"]),
                }
            )
    return out


def _table(rows, columns):
    head = "| " + " | ".join(label for label, _ in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(fmt(r) for _, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _memory(row):
    return f"{row['fit_peak_rss_mb']:.0f} ({row['fit_mem_mb']:.0f})"


def markdown(rows, meta):
    measured = _table(
        rows,
        [
            ("dataset", lambda r: r["dataset"]),
            ("system", lambda r: r["system"]),
            ("fit s", lambda r: f"{r['fit_s']:.2f}"),
            ("epochs", lambda r: str(r["n_iter"])),
            (
                "fit peak RSS MB (rise)",
                lambda r: f"{r['fit_peak_rss_mb']:.0f} ({r['fit_mem_mb']:.0f})",
            ),
            ("predict rows/s", lambda r: f"{r['predict_rows_per_s']:,.0f}"),
            (
                "predict rows/s without the compiled kernel",
                lambda r: (
                    f"{r['predict_rows_per_s_numpy']:,.0f}"
                    if r.get("predict_rows_per_s_numpy")
                    else ""
                ),
            ),
            ("1-row latency ms", lambda r: f"{r['latency_ms']:.3f}"),
            ("test accuracy", lambda r: f"{100 * r['accuracy']:.1f}%"),
        ],
    )
    compared = _table(
        ratios(rows),
        [
            ("dataset", lambda r: r["dataset"]),
            ("peer", lambda r: r["peer"]),
            ("fit time (x peer's)", lambda r: f"{r['fit_time']:.2f}"),
            ("predict rows/s (x)", lambda r: f"{r['predict_rows_per_s']:.2f}"),
            ("1-row latency (x)", lambda r: f"{r['latency']:.2f}"),
            ("fit memory rise (x)", lambda r: f"{r['fit_mem']:.2f}"),
            ("accuracy (points)", lambda r: f"{r['accuracy_points']:+.1f}"),
        ],
    )
    return "\n\n".join(
        [
            "# Speed: ProjectionNet's defaults against its peers",
            f"Command: `{meta['command']}`  \n{meta['date']}, {meta['machine']}, "
            f"load average before {meta['load_before']}, after {meta['load_after']}"
            + (", with a CPU-bound process running beside" if meta["busy"] else ""),
            "## Measured",
            measured,
            f"## {OURS} over each peer (same run)",
            compared,
        ]
    )


def profile(dataset_name, data_dir, n_epochs):
    """Where a fit's time goes: ablations, then cProfile's heaviest calls."""
    features = features_of(datasets.load(dataset_name, data_dir))
    X, y = features.X_train, features.dataset.y_train
    variants = {
        "defaults": {},
        "no teacher (student alone)": {"loss_weights": (0.0, 0.0, 1.0)},
        "random projection (bits computed once)": {"projection": "random"},
    }
    print(f"{dataset_name}: {n_epochs} epochs of each variant, seconds per epoch")
    with warnings.catch_warnings():
        # Torch's import and first calls are not an epoch's cost: pay them first.
        warnings.simplefilter("ignore", ConvergenceWarning)
        ProjectionNetClassifier(max_iter=1, random_state=SEED).fit(X[:200], y[:200])
    for label, params in variants.items():
        model = ProjectionNetClassifier(max_iter=n_epochs, random_state=SEED, **params)
        with warnings.catch_warnings(), Timer() as timer:
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        print(f"  {label:45s} {timer.seconds / n_epochs:7.2f}")
    model = ProjectionNetClassifier(max_iter=n_epochs, random_state=SEED)
    profiler = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        profiler.runcall(model.fit, X, y)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main(argv=None):
    args = parse_args(argv)
    data_dir = datasets.resolve_data_dir(args.data_dir)
    if args.profile:
        profile(args.profile, data_dir, args.profile_epochs)
        return
    load_before = os.getloadavg()[0]
    busy = busy_process() if args.busy else None
    if args.max_iter:
        SYSTEMS[OURS] = lambda: ProjectionNetClassifier(random_state=SEED, max_iter=args.max_iter)
    rows = []
    try:
        for name in args.datasets:
            features = features_of(datasets.load(name, data_dir))
            for system in args.systems:
                row = {"dataset": name, **measure(system, SYSTEMS[system], features)}
                print(
                    f"{name:10s} {system:36s} fit {row['fit_s']:8.2f} s  "
                    f"{row['predict_rows_per_s']:12,.0f} rows/s  "
                    f"latency {row['latency_ms']:.3f} ms  accuracy {row['accuracy']:.4f}",
                    flush=True,
                )
                rows.append(row)
    finally:
        if busy is not None:
            busy.terminate()
    meta = {
        "command": shlex.join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_before": f"{load_before:.2f}",
        "load_after": f"{os.getloadavg()[0]:.2f}",
        "busy": args.busy,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "SPEED.md").write_text(markdown(rows, meta) + "\n")
    (args.out / "speed.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
