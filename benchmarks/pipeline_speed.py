"""Predict throughput of the 256 KiB text pipeline, raw text in, label out.

Run from the project root::

    python benchmarks/pipeline_speed.py --data-dir ../shared/data

The 256 KiB 20 Newsgroups target (``targets.py``) is
``FastHashingVectorizer`` -> ``log1p`` -> ``Normalizer`` -> a ProjectionNet
of 256 bits (32 slots per word, the default) with a linear path on 45,000
buckets. This script measures its prediction on the test documents, one
thread, against ``HashingVectorizer`` -> ``LinearSVC`` (the peer of issue
#12), and the same layout at 16 slots per word and without its path, to
show what each part costs. ``FastHashingVectorizer`` gives
``HashingVectorizer``'s matrix, to the bit, with the C text front end of
exported models; so that its share of the ratio shows, the last line is
``LinearSVC`` after ``FastHashingVectorizer``.
The cost of a prediction does not depend on what was learnt, so the
ProjectionNet pipelines are fitted for one epoch of the student (their
path is fitted as usual): the layout of the target, not its accuracy.
Prints one line per pipeline: batch rows/s (best of 5 calls on the whole
test set) and one-document latency (median of 1,000 calls), each also as a
ratio to ``LinearSVC``'s. ``--no-path-kernel`` scores the linear path with
numpy and scipy instead of the compiled kernel.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):
    # Run as a script (python benchmarks/pipeline_speed.py): import the benchmarks
    # package, and the project's own sklearn_pnet, from the project root, as
    # python -m benchmarks.pipeline_speed does.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.measure import best_rows_per_second
from benchmarks.speed import N_LATENCY_CALLS, one_row_latency
from benchmarks.targets import NEWSGROUPS_256_KIB, compact_newsgroups_pipeline
from sklearn_pnet import FastHashingVectorizer, _linear_path


def pipelines(slots=(32, 16), **layout):
    """The 256 KiB target's pipeline (``layout`` overrides some of it) at
    each number of slots per word, the first also without its linear path,
    and the peer."""
    params = {**NEWSGROUPS_256_KIB, "max_iter": 1, **layout}

    def compact(n_slots, **changes):
        density = n_slots / params["n_bits"]
        return compact_newsgroups_pipeline({**params, "density": density, **changes})

    models = {f"ProjectionNet, {s} slots per word": compact(s) for s in slots}
    models[f"ProjectionNet, {slots[0]} slots per word, no linear path"] = compact(
        slots[0], linear_buckets=0
    )
    peer = HashingVectorizer(n_features=2**20, alternate_sign=False)
    models["LinearSVC"] = make_pipeline(peer, LinearSVC(random_state=0))
    fast = FastHashingVectorizer(n_features=2**20, alternate_sign=False)
    models["LinearSVC after FastHashingVectorizer"] = make_pipeline(fast, LinearSVC(random_state=0))
    return models


def rows_per_second(models, X_train, y_train, X_test, n_latency_calls=N_LATENCY_CALLS):
    """``{name: (predict rows/s, one-row seconds)}`` on ``X_test``, one
    thread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch, on purpose
        for model in models.values():
            model.fit(X_train, y_train)
    with threadpool_limits(1):
        return {
            name: (
                best_rows_per_second(model.predict, X_test, len(X_test), repeats=5)[0],
                one_row_latency(model.predict, X_test, n_latency_calls),
            )
            for name, model in models.items()
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument(
        "--no-path-kernel",
        action="store_true",
        help="score the linear path with numpy and scipy, as without the compiled kernel",
    )
    args = parser.parse_args(argv)
    if args.no_path_kernel:
        _linear_path._compiled_scores = None
    news = datasets.load("20news", args.data_dir)
    rates = rows_per_second(pipelines(), news.X_train, news.y_train, news.X_test)
    peer_rate, peer_latency = rates["LinearSVC"]
    for name, (rate, latency) in rates.items():
        print(
            f"{name}: {rate:,.0f} rows/s = {rate / peer_rate:.2f}x LinearSVC; "
            f"one document {1000 * latency:.3f} ms = {latency / peer_latency:.2f}x LinearSVC's"
        )


if __name__ == "__main__":
    main()
