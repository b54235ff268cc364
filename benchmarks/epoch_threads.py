"""What the compiled epoch's threads buy on this machine, now.

Run from the project root::

    python benchmarks/epoch_threads.py --data-dir ../shared/data

A default fit on dense rows takes its steps in the compiled epoch
(``student_epoch``), which shares each step among up to
``MAX_EPOCH_THREADS`` threads where that is faster than one (it times both
ways as it goes). Two things decide what a second core is worth, and both
change from minute to minute on a shared machine: whether the two cores
really run at once (a virtual machine's may not), and whether other
threads spin on them (OpenBLAS's spin for a while after each product).
This script fits ``ProjectionNetClassifier(random_state=0)`` on the digits:

- ``--repeats`` times on one thread and with the default threads,
  alternating, and prints each way's median fit time;
- right after an ``MLPClassifier(256, early stopping)`` fit and then after
  pauses of 0.2 s and 1 s (the median of ``--repeats`` each), and after an
  ``MLPClassifier`` fit on one BLAS thread (``threadpoolctl``).

The models are the same whatever the threads (``tests/test_training.py``);
only the times differ.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from sklearn_pnet import ProjectionNetClassifier, _training


def _seconds(fit):
    start = time.perf_counter()
    fit()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    split = datasets.load("digits", args.data_dir)
    X, y = split.X_train, split.y_train

    def ours():
        ProjectionNetClassifier(random_state=0).fit(X, y)

    def mlp():
        MLPClassifier(hidden_layer_sizes=(256,), early_stopping=True, random_state=0).fit(X, y)

    ours()  # the helpers started, the modules loaded
    default = _training.MAX_EPOCH_THREADS
    times = {"one thread": [], "default threads": []}
    for _ in range(args.repeats):
        for way, n in (("one thread", 1), ("default threads", default)):
            _training.MAX_EPOCH_THREADS = n
            times[way].append(_seconds(ours))
    _training.MAX_EPOCH_THREADS = default
    print("| digits, default fit | median ms | each |")
    print("|---|---|---|")
    for way, seconds in times.items():
        each = ", ".join(f"{1e3 * s:.0f}" for s in seconds)
        print(f"| {way} | {1e3 * np.median(seconds):.1f} | {each} |")
    after = {}
    for pause in (0.0, 0.2, 1.0):
        after[f"{pause:.1f} s after MLPClassifier's fit"] = [
            (mlp(), time.sleep(pause), _seconds(ours))[2] for _ in range(args.repeats)
        ]

    def mlp_one_blas_thread():
        with threadpool_limits(1, user_api="blas"):
            mlp()

    after["right after MLPClassifier's fit on one BLAS thread"] = [
        (mlp_one_blas_thread(), _seconds(ours))[1] for _ in range(args.repeats)
    ]
    for way, seconds in after.items():
        each = ", ".join(f"{1e3 * s:.0f}" for s in seconds)
        print(f"| {way} | {1e3 * np.median(seconds):.1f} | {each} |")


if __name__ == "__main__":
    main()
