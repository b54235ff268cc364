"""Measure the project's quality, size and speed targets on real data.

Run from the project root::

    python benchmarks/targets.py --data-dir ../shared/data            # all, about an hour
    python benchmarks/targets.py --data-dir ../shared/data --only digits design_card

Each target fits one configuration, written out in full below, on the
official training split and measures it once on the test split. The
configurations of the compression targets (issue #4) were chosen on
validation splits of the *training* data, never on the test split; how is
said in each target's ``chosen`` note. The results go to
``benchmarks/TARGETS.md`` (or ``--out``).
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import datetime
import platform
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):
    # Run as a script (python benchmarks/targets.py): import the benchmarks
    # package, and the project's own sklearn_pnet, from the project root, as
    # python -m benchmarks.targets does.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sklearn_pnet
from benchmarks import datasets
from benchmarks.measure import best_rows_per_second
from sklearn_pnet import ProjectionNetClassifier, model_size_bytes

HERE = Path(__file__).resolve().parent
SEED = 0
KIB = 1024


@dataclass
class Target:
    """A target: what is measured, the goal, and the configuration."""

    name: str
    issue: str
    goal: str
    measure: object  # callable(data_dir) -> list of result dicts
    chosen: str = ""


def _fit(model, X_train, y_train):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return time.perf_counter() - start


def _accuracy(model, X_test, dataset):
    return float(np.mean(model.predict(X_test) == dataset.y_test))


def _result(label, model, X_test, y_test, fit_seconds, passed, **extra):
    return dict(
        label=label,
        accuracy=float(np.mean(model.predict(X_test) == y_test)),
        bytes=model_size_bytes(model)["total"],
        fit_seconds=fit_seconds,
        passed=passed,
        params=" ".join(repr(model).split()),
        **extra,
    )


def _accuracy_target(label, make_model, dataset, goal, max_bytes=None):
    """Fit ``make_model()`` on ``dataset`` and check accuracy (and size).

    ``goal=None`` only reports: a comparison point such as the paper's
    random projection, which no issue asks to reach.
    """
    model = make_model()
    fit_seconds = _fit(model, dataset.X_train, dataset.y_train)
    accuracy = float(np.mean(model.predict(dataset.X_test) == dataset.y_test))
    size = model_size_bytes(model)["total"]
    passed = None
    if goal is not None:
        passed = accuracy >= goal and (max_bytes is None or size <= max_bytes)
    return _result(label, model, dataset.X_test, dataset.y_test, fit_seconds, passed)


def mnist_720_bits(data_dir):
    mnist = datasets.load("mnist", data_dir)
    return [
        _accuracy_target(
            "default settings, n_bits=720 (trained projection)",
            lambda: ProjectionNetClassifier(n_bits=720, random_state=SEED),
            mnist,
            goal=0.923 + 1e-9,
        ),
        _accuracy_target(
            "the paper's setting: random projection, softmax on 720 bits (reported)",
            lambda: ProjectionNetClassifier(n_bits=720, projection="random", random_state=SEED),
            mnist,
            goal=None,
        ),
    ]


def digits_256_bits(data_dir):
    digits = datasets.load("digits", data_dir)
    return [
        _accuracy_target(
            "default settings, n_bits=256",
            lambda: ProjectionNetClassifier(n_bits=256, random_state=SEED),
            digits,
            goal=0.95,
        )
    ]


def design_card(data_dir):
    """``TfidfVectorizer() -> ProjectionNetClassifier(n_bits=256)`` on the
    4 topics of scikit-learn's text example."""
    news = datasets.load("20news_4topics", data_dir)

    def pipeline(**params):
        return lambda: make_pipeline(
            TfidfVectorizer(), ProjectionNetClassifier(n_bits=256, random_state=SEED, **params)
        )

    return [
        # The design card's pipeline is the default one: >= 65% (#2), >= 85% (#4).
        _accuracy_target("default settings", pipeline(), news, goal=0.85),
        _accuracy_target(
            "random projection, the paper's (reported)",
            pipeline(projection="random"),
            news,
            goal=None,
        ),
    ]


def newsgroups_size_and_speed(data_dir):
    """On the full 20 Newsgroups tf-idf, n_bits=256: the classifier's dumped
    size, and its predict throughput against ``LinearSVC.predict`` on the
    same test matrix, measured in the same run, one thread each."""
    news = datasets.load("20news", data_dir)
    vectorizer = TfidfVectorizer()
    X_train = vectorizer.fit_transform(news.X_train)
    X_test = vectorizer.transform(news.X_test)
    svc = LinearSVC(random_state=SEED)
    svc_fit = _fit(svc, X_train, news.y_train)
    results = []
    for label, params in [
        ("default settings, n_bits=256 (trained projection)", {}),
        ("random projection, n_bits=256", {"projection": "random"}),
    ]:
        clf = ProjectionNetClassifier(n_bits=256, random_state=SEED, **params)
        fit_seconds = _fit(clf, X_train, news.y_train)
        with threadpool_limits(1):
            # Interleave the two, so both see the same machine load.
            svc_rate, _ = best_rows_per_second(svc.predict, X_test, X_test.shape[0], repeats=7)
            clf_rate, _ = best_rows_per_second(clf.predict, X_test, X_test.shape[0], repeats=7)
            svc_rate = max(svc_rate, best_rows_per_second(svc.predict, X_test, X_test.shape[0])[0])
        size = model_size_bytes(clf)["total"]
        results.append(
            _result(
                label,
                clf,
                X_test,
                news.y_test,
                fit_seconds,
                # The random projection is reported against #2's size only.
                passed=size <= 64 * 1000 and (bool(params) or _accuracy(clf, X_test, news) >= 0.78),
                predict_rows_per_s=clf_rate,
                linearsvc_rows_per_s=svc_rate,
                speed_ratio=clf_rate / svc_rate,
            )
        )
    results.append(
        _result(
            "LinearSVC (peer)",
            svc,
            X_test,
            news.y_test,
            svc_fit,
            passed=None,
        )
    )
    return results


def mnist_32_kib(data_dir):
    mnist = datasets.load("mnist", data_dir)
    return [
        _accuracy_target(
            "256 bits -> 128 hidden -> 10, k-means 16 (4-bit) weights",
            lambda: ProjectionNetClassifier(
                n_bits=256,
                hidden_layer_sizes=(128,),
                n_weights=8192,
                weight_clusters=16,
                max_iter=60,
                # As validated (VALIDATION.md), before early_stopping="auto"
                # became the default: 60 epochs on all the training data,
                # and before the defaults of issue #16: the teacher and 16
                # bits per feature.
                early_stopping=False,
                loss_weights=(1.0, 0.1, 1.0),
                density=16 / 256,
                random_state=SEED,
            ),
            mnist,
            goal=0.96,
            max_bytes=32 * KIB,
        )
    ]


# The 256 KiB and 128 KiB 20 Newsgroups classifiers, chosen on the latest
# validation split (VALIDATION.md, "The linear path" and "Entropy-coded
# path"): the bits and a liblinear path beside them, after sublinear counts of
# the hashed words. pipeline_speed.py times the 256 KiB one.
NEWSGROUPS_256_KIB = {
    "n_bits": 256,
    "n_weights": 60_000,
    "linear_buckets": 45_000,
    "random_state": SEED,
}
NEWSGROUPS_128_KIB = {
    "n_bits": 256,
    "n_weights": 40_000,
    "linear_buckets": 15_000,
    "random_state": SEED,
}


def compact_newsgroups_pipeline(layout):
    """The fully compact pipeline (issue #16): sublinear term frequencies of
    hashed words, with nothing fitted before the classifier, so that the
    whole pipeline weighs what the classifier does."""
    from benchmarks.validation import VECTORIZERS

    return make_pipeline(VECTORIZERS["hashing-sublinear"](), ProjectionNetClassifier(**layout))


def newsgroups_256_kib(data_dir):
    news = datasets.load("20news", data_dir)
    return [
        _accuracy_target(
            "FastHashingVectorizer(2**20) -> log1p -> L2 -> 256 bits (60,000 shared 3-bit weights) "
            "and a linear path on 45,000 buckets",
            lambda: compact_newsgroups_pipeline(NEWSGROUPS_256_KIB),
            news,
            goal=0.85,
            max_bytes=256 * KIB,
        )
    ]


def newsgroups_128_kib(data_dir):
    news = datasets.load("20news", data_dir)
    return [
        _accuracy_target(
            "FastHashingVectorizer(2**20) -> log1p -> L2 -> 256 bits (40,000 shared 3-bit weights) "
            "and a linear path on 15,000 buckets",
            lambda: compact_newsgroups_pipeline(NEWSGROUPS_128_KIB),
            news,
            goal=0.82,
            max_bytes=128 * KIB,
        )
    ]


TARGETS = [
    Target("digits", "#2", "load_digits, n_bits=256: student accuracy >= 95%", digits_256_bits),
    Target(
        "design_card",
        "#2, #4",
        "4-topic 20 Newsgroups, TfidfVectorizer() -> ProjectionNetClassifier(n_bits=256): "
        ">= 65% (#2), >= 85% with default settings (#4)",
        design_card,
    ),
    Target(
        "newsgroups_size_speed",
        "#2, #16",
        "20 Newsgroups, n_bits=256: dumped classifier <= 64 KB (#2); with default "
        "settings >= 78% test accuracy (#16); predict throughput at least half "
        "LinearSVC.predict's on the same tf-idf matrix (aim)",
        newsgroups_size_and_speed,
        chosen="the defaults n_weights, weight_clusters, density and loss_weights chosen "
        "on the latest 20% of each newsgroup and random 20% validation splits of the "
        "other datasets (VALIDATION.md, issue #16)",
    ),
    Target(
        "mnist_720",
        "#2",
        "MNIST, n_bits=720: student accuracy above the paper's 92.3%",
        mnist_720_bits,
    ),
    Target(
        "mnist_32kib",
        "#4",
        "MNIST: >= 96% test accuracy, dumped model <= 32 KiB",
        mnist_32_kib,
        chosen="layout chosen among 6 on a 20% validation split of the training set "
        "(best: 96.1-96.7% there)",
    ),
    Target(
        "newsgroups_256kib",
        "#4, #16",
        "20 Newsgroups, all 20 classes, HashingVectorizer -> ProjectionNetClassifier: "
        ">= 80% (#4), >= 85% (#16) test accuracy, whole pipeline dumped <= 256 KiB",
        newsgroups_256_kib,
        chosen="on the latest 20% of each newsgroup: the bits alone (1,024 bits, 128 slots, "
        "622,592 weights: 87.3% there, 82.78% on test), then a linear path beside them with "
        "8 packed values (88.8-89.0% there), then with 16 LZMA-coded values, in four layouts "
        "within 256 KiB: 89.3-89.8% there, 89.75% for this one. Its codes stored row by row, "
        "it dumped 266,362 bytes (85.29% on test, over the budget); 43,000 buckets, chosen by "
        "bytes alone, read 84.96% on test in 257,578 bytes; the codes stored a bucket at a time "
        "(lossless: the same model) brought 45,000 back within the budget",
    ),
    Target(
        "newsgroups_128kib",
        "#16",
        "20 Newsgroups, all 20 classes, HashingVectorizer -> ProjectionNetClassifier: "
        ">= 82% test accuracy, whole pipeline dumped <= 128 KiB",
        newsgroups_128_kib,
        chosen="on the latest 20% of each newsgroup: the bits alone (512 bits, 320,000 "
        "weights: 84.5% there, 79.49% on test), then a linear path beside them with 8 packed "
        "values (88.07%, 83.03% on test), then with 16 LZMA-coded values, in two layouts "
        "within 128 KiB: 87.9-88.4% there, 88.43% for this one (seed 1: 88.91%)",
    ),
]


def write_report(rows, command, seconds, path):
    lines = [
        "# Targets",
        "",
        (
            f"Written by `{command}` on "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"in {seconds:.0f} s, "
            f"on {platform.processor() or platform.machine()} ({platform.system()}), "
            f"sklearn_pnet {sklearn_pnet.__version__}. Test accuracy, one fit each "
            "(`random_state=0`); sizes are `len(joblib.dump(model))`."
        ),
        "",
        "| target | issue | goal | configuration | test accuracy | bytes | fit s | other | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for target, result in rows:
        other = ""
        if "speed_ratio" in result:
            other = (
                f"{result['predict_rows_per_s']:,.0f} rows/s = "
                f"{result['speed_ratio']:.2f}x LinearSVC's {result['linearsvc_rows_per_s']:,.0f}"
            )
        met = {True: "yes", False: "**no**", None: ""}[result["passed"]]
        lines.append(
            f"| {target.name} | {target.issue} | {target.goal} | {result['label']} | "
            f"{result['accuracy']:.2%} | {result['bytes']:,} | {result['fit_seconds']:.0f} | "
            f"{other} | {met} |"
        )
    lines += ["", "How the configurations of the compression targets were chosen:", ""]
    lines += [f"- {t.name}: {t.chosen}." for t in TARGETS if t.chosen]
    lines += ["", "Full parameters of every model:", ""]
    lines += [f"- {t.name}, {r['label']}: `{r['params']}`" for t, r in rows]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--only", nargs="+", choices=[t.name for t in TARGETS])
    parser.add_argument("--out", default=str(HERE / "TARGETS.md"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    for target in TARGETS:
        if args.only and target.name not in args.only:
            continue
        print(f"{target.name}: {target.goal}", flush=True)
        for result in target.measure(args.data_dir):
            rows.append((target, result))
            print(
                f"  {result['label']}: accuracy {result['accuracy']:.4f}, "
                f"{result['bytes']:,} bytes, fit {result['fit_seconds']:.0f} s"
                + (
                    f", speed {result['speed_ratio']:.2f}x LinearSVC"
                    if "speed_ratio" in result
                    else ""
                ),
                flush=True,
            )
    command = "python benchmarks/targets.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    write_report(rows, command.strip(), time.perf_counter() - start, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
