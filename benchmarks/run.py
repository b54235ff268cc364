"""Benchmark ProjectionNet against its peers on real datasets.

Run from the project root::

    python benchmarks/run.py --data-dir ../shared/data            # full suite
    python benchmarks/run.py --data-dir ../shared/data --quick    # minutes
    python benchmarks/run.py --quick --datasets digits --out /tmp/bench

For every dataset, in one run and on the same features, every system of
``systems.SYSTEMS`` is fitted and measured (accuracy, model bytes, fit
seconds, predict rows/s, peak memory). The results go to RESULTS.md,
results.csv and results.json in ``--out`` (default: ``benchmarks/`` for a
full run, ``benchmarks/out/quick/`` for ``--quick``), with plots in
``plots/``. See benchmarks/README.md for the columns and fastText's setup.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):
    # Run as a script (python benchmarks/run.py): import the benchmarks
    # package, and the project's own sklearn_pnet, from the project root, as
    # python -m benchmarks.run does.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sklearn_pnet
from benchmarks import datasets, report
from benchmarks.fasttext_system import DEFAULT_VENV, setup_fasttext
from benchmarks.measure import Skip, Timer
from benchmarks.systems import FAMILIES, SYSTEMS, Features, Settings, dumped_size

HERE = Path(__file__).resolve().parent

# --quick: at most this many training / test samples per dataset.
QUICK_N_TRAIN = 1500
QUICK_N_TEST = 500


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        help=f"directory laid out as ../shared/data (default: ${datasets.DATA_DIR_VARIABLE}, "
        "else public downloads)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="subsampled data, few budgets and epochs"
    )
    parser.add_argument("--datasets", nargs="+", choices=datasets.suite(), default=datasets.suite())
    parser.add_argument(
        "--out", help="output directory (default: benchmarks/, or benchmarks/out/quick/)"
    )
    parser.add_argument("--budgets", type=int, nargs="+", help="bit budgets (overrides the mode's)")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="DIR",
        help="write one report from the results.json of runs made side by side "
        "(e.g. one per core, on different --datasets) instead of running",
    )
    parser.add_argument(
        "--max-iter", type=int, help="epochs of the networks (overrides the mode's)"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device of ProjectionNet and HashedNet training, e.g. cuda",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads of every library (torch, BLAS, OpenMP, fastText); default 1: "
        "timings that a busy shared machine disturbs least, and on-device-like",
    )
    parser.add_argument("--no-fasttext", action="store_true", help="skip fastText")
    parser.add_argument(
        "--fasttext-venv", default=str(DEFAULT_VENV), help="fastText's virtual environment"
    )
    return parser.parse_args(argv)


def make_settings(args):
    """The run's :class:`Settings`: full, or --quick, then the overrides."""
    if args.quick:
        settings = Settings(
            quick=True,
            budgets=(64, 720),
            max_iter=10,
            early_stopping=False,
            teacher_hidden_layer_sizes=(64,),
            linear_max_iter=100,
            repeats=3,
            timing_seconds=0.02,
            fasttext_params={"dim": 20, "epoch": 25, "lr": 0.5, "wordNgrams": 1, "minCount": 1},
            fasttext_cutoffs=(2000,),
        )
    else:
        settings = Settings()
    if args.budgets:
        settings.budgets = tuple(args.budgets)
        settings.extra_budgets = {}
    if args.max_iter:
        settings.max_iter = args.max_iter
    settings.device = args.device
    settings.threads = args.threads
    return settings


def warm_up():
    """Fit a tiny ProjectionNet of each kind once, unmeasured.

    The first torch fit of a process pays one-time costs (lazy imports,
    kernel set-up, allocator pools) that are no system's; without this the
    first system measured would carry them.
    """
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 8), np.arange(40) % 2
    for projection in ("random", "trained"):
        sklearn_pnet.ProjectionNetClassifier(
            8, projection=projection, teacher_hidden_layer_sizes=(4,), max_iter=1, random_state=0
        ).fit(X, y)


def limit_threads(n_threads):
    """Give every system the same number of threads: torch's intra-op
    pool, and BLAS and OpenMP through threadpoolctl. Returns the limiter,
    which must stay alive for the limit to hold."""
    torch.set_num_threads(n_threads)
    return threadpool_limits(n_threads)


def features_of(dataset):
    """The features all systems share: pixels, or tf-idf of the documents
    (float32, fitted on the training documents only)."""
    if dataset.kind == "image":
        return Features(dataset, dataset.X_train, dataset.X_test)
    vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32)
    with Timer() as timer:
        X_train = vectorizer.fit_transform(dataset.X_train)
    return Features(
        dataset, X_train, vectorizer.transform(dataset.X_test), vectorizer, timer.seconds
    )


def describe(features):
    """One line on the data, for RESULTS.md."""
    data = features.dataset
    text = (
        f"{len(data.y_train):,} training / {len(data.y_test):,} test samples, "
        f"{features.X_train.shape[1]:,} features, {data.n_classes} classes; source: {data.source}."
    )
    if features.vectorizer is not None:
        text += (
            f" Shared features: `TfidfVectorizer(sublinear_tf=True)`, fitted in "
            f"{features.vectorizer_seconds:.2f} s (not in the fit times), "
            f"{dumped_size(features.vectorizer):,} bytes dumped (in the pipeline bytes)."
        )
    return text


def run_dataset(name, args, settings, log=print):
    """Every applicable system on one dataset: ``(rows, info, skipped, failed)``."""
    n_train, n_test = (QUICK_N_TRAIN, QUICK_N_TEST) if args.quick else (None, None)
    dataset = datasets.load(name, args.data_dir, n_train, n_test)
    features = features_of(dataset)
    info = describe(features)
    log(f"\n== {name}: {info}")
    rows, skipped, failed = [], [], []
    for system in SYSTEMS:
        if not system.applies_to(dataset):
            continue
        if not system.available():
            skipped.append(f"{name} / {system.name}: not available in this version of the package")
            continue
        try:
            new_rows = system.run(features, settings, log=log)
        except Skip as exc:
            skipped.append(f"{name} / {system.name}: {exc}")
            log(f"  {system.name}: skipped ({exc})")
            continue
        except Exception:  # noqa: BLE001 (one broken system must not lose the others' results)
            failed.append(
                f"{name} / {system.name}: {traceback.format_exc().strip().splitlines()[-1]}"
            )
            log(f"  {system.name}: FAILED\n{traceback.format_exc()}")
            continue
        for row in new_rows:
            row.update(
                dataset=name,
                n_train=len(dataset.y_train),
                n_test=len(dataset.y_test),
                n_features=features.X_train.shape[1],
            )
        rows += new_rows
    return rows, info, skipped, failed


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit():
    """The package's git commit, marked when the tree has changes."""
    try:
        git = ["git", "-C", str(HERE.parent)]
        commit = subprocess.run(
            git + ["rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
        )
        dirty = subprocess.run(
            git + ["status", "--porcelain", "--", "sklearn_pnet"],
            check=False,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + (
        " (with uncommitted changes to sklearn_pnet)" if dirty.stdout.strip() else ""
    )


def run_metadata(argv, args, settings, seconds, skipped, failed, dataset_info):
    return {
        "commands": ["python benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv)],
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "total_seconds": seconds,
        "machine": (
            f"{_cpu_model()}, {os.cpu_count()} cores, {settings.threads} thread(s) per library, "
            f"{platform.system()} {platform.release()}"
        ),
        "versions": (
            f"Python {platform.python_version()}, sklearn_pnet {sklearn_pnet.__version__}, "
            f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, torch {torch.__version__}"
        ),
        "commit": _commit(),
        "settings": {k: v for k, v in vars(settings).items() if k != "fasttext_python"},
        "skipped": skipped,
        "failed": failed,
        "dataset_info": dataset_info,
    }


def merge(argv, args):
    """One report from runs made side by side: their rows, in the order of
    the directories, and their metadata, with every command that made them."""
    parts = []
    for directory in args.merge:
        with open(Path(directory) / "results.json") as f:
            parts.append(json.load(f))
    meta = dict(parts[0]["meta"])
    meta["commands"] = [c for part in parts for c in part["meta"]["commands"]]
    meta["commands"].append("python benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv))
    meta["total_seconds"] = max(part["meta"]["total_seconds"] for part in parts)
    meta["date"] = max(part["meta"]["date"] for part in parts)
    for key in ("skipped", "failed"):
        meta[key] = [line for part in parts for line in part["meta"][key]]
    meta["dataset_info"] = {k: v for part in parts for k, v in part["meta"]["dataset_info"].items()}
    frame = report.results_frame([row for part in parts for row in part["results"]])
    return frame, meta


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    settings = make_settings(args)
    out_dir = Path(args.out) if args.out else (HERE / "out" / "quick" if args.quick else HERE)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.merge:
        frame, meta = merge(argv, args)
        write_outputs(frame, meta, out_dir)
        return 1 if meta["failed"] else 0
    limits = limit_threads(settings.threads)  # noqa: F841 (kept alive)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 1 epoch does not converge, on purpose
        warm_up()

    if args.no_fasttext:
        settings.fasttext_skip_reason = "--no-fasttext"
    elif any(datasets.DATASETS[name].kind == "text" for name in args.datasets):
        settings.fasttext_python, settings.fasttext_skip_reason = setup_fasttext(
            Path(args.fasttext_venv)
        )
        if settings.fasttext_python is None:
            print(f"fastText skipped: {settings.fasttext_skip_reason}")

    rows, info, skipped, failed = [], {}, [], []
    for name in args.datasets:
        try:
            new_rows, info[name], new_skipped, new_failed = run_dataset(name, args, settings)
        except Exception:  # noqa: BLE001 (e.g. no data and no network: go on with the rest)
            failed.append(
                f"{name}: loading failed: {traceback.format_exc().strip().splitlines()[-1]}"
            )
            print(f"\n== {name}: loading FAILED\n{traceback.format_exc()}")
            continue
        rows += new_rows
        skipped += new_skipped
        failed += new_failed

    frame = report.results_frame(rows)
    meta = run_metadata(argv, args, settings, time.perf_counter() - start, skipped, failed, info)
    write_outputs(frame, meta, out_dir)
    print(f"({time.perf_counter() - start:.0f} s)")
    return 1 if failed else 0


def write_outputs(frame, meta, out_dir):
    plots = report.write_plots(frame, out_dir, FAMILIES)
    report.write_machine_readable(frame, meta, out_dir)
    report.write_markdown(frame, meta, meta["dataset_info"], plots, out_dir, FAMILIES)
    print_ratios(frame)
    for line in meta["skipped"]:
        print(f"skipped: {line}")
    for line in meta["failed"]:
        print(f"FAILED: {line}")
    print(f"\nWrote {out_dir / 'RESULTS.md'}, results.csv, results.json and plots/.")


def print_ratios(frame):
    """The ratio tables of every dataset, on standard output."""
    for dataset in dict.fromkeys(frame["dataset"]):
        data = frame[frame["dataset"] == dataset]
        for reference in report.references(FAMILIES):
            print(f"\n{dataset}: ratios against {reference} (same run)\n")
            print(report.ratio_table(data, reference))


if __name__ == "__main__":
    sys.exit(main())
