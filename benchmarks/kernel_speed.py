"""Time the compiled kernels alone, on the data where they matter.

Run from the project root::

    python benchmarks/kernel_speed.py --data-dir ../shared/data

``speed.py`` times whole fits and predictions against peers; this script
times the kernels inside them, so that a change to one kernel can be
measured before and after on the same machine (run it at both commits,
one after the other, on a quiet machine). One thread, best of several
calls, in milliseconds; the rows that name a number of threads use every
CPU this process may run on, as a prediction does by default
(``_inference.run_in_threads``). ``--busy`` runs a CPU-bound process beside,
as ``speed.py --busy`` does:

- the trained projection of 20 Newsgroups' test tf-idf (7,532 documents,
  1.1 million non-zeros, 32 slots per word) by ``project_csr``, the whole
  ``predict`` of the default model around it, and ``LinearSVC.predict``;
- the steps of the 256 KiB raw-text pipeline (``targets.py``; its student
  fitted for one epoch: the layout is what costs, not what was learnt) on
  the test documents: the features, its ``FastHashingVectorizer`` alone
  (and one document's, the median of 1,000 calls, in ms) and
  ``HashingVectorizer`` with the same settings in its place, the classifier,
  its linear path's scores, its projection and the hashing of the words
  present in it, and the peer's ``HashingVectorizer`` (and one document's)
  and ``LinearSVC.predict``;
- a 200-row MNIST batch times the projection's dense rows (784 x 256), and
  its gradient, by ``dense_product`` and by torch's matrix product.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):
    # Run as a script: import the benchmarks package, and the project's own
    # sklearn_pnet, from the project root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.run import features_of
from benchmarks.speed import busy_process, one_row_latency
from sklearn_pnet import ProjectionNetClassifier, _inference


def best_ms(call, repeats=7):
    """The fastest of ``repeats`` calls, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def newsgroups_projection(data_dir):
    """The default model's projection of 20 Newsgroups' test tf-idf."""
    features = features_of(datasets.load("20news", data_dir))
    y = features.dataset.y_train
    clf = ProjectionNetClassifier(random_state=0, max_iter=2).fit(features.X_train, y)
    svc = LinearSVC().fit(features.X_train, y)
    X = features.X_test
    clf.predict(X)  # keeps the projection's structure
    (bits, codes, table), _ = clf.projector_._structure(clf.projector_.n_bits)
    times = {
        "20NG test: project_csr (default model, 32 slots)": best_ms(
            lambda: _inference.sparse_projection(X, bits, codes, table, clf.projector_.n_bits)
        ),
        "20NG test: ProjectionNet predict": best_ms(lambda: clf.predict(X)),
        "20NG test: LinearSVC predict": best_ms(lambda: svc.predict(X)),
    }
    with all_threads() as n:
        times[f"20NG test: project_csr, {n} threads"] = best_ms(
            lambda: _inference.sparse_projection(X, bits, codes, table, clf.projector_.n_bits)
        )
        times[f"20NG test: ProjectionNet predict, {n} threads"] = best_ms(lambda: clf.predict(X))
        times[f"20NG test: LinearSVC predict, {n} threads"] = best_ms(lambda: svc.predict(X))
    return times


@contextmanager
def all_threads():
    """Inside main's one-thread limit: the machine's threads (yields how
    many), as a prediction uses them by default."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with threadpool_limits(n):
        yield n


def pipeline_kernels(data_dir):
    """The steps of the 256 KiB raw-text pipeline and of its peer
    (``pipeline_speed.py``), the path's scores and the projection's hashing
    among them."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from benchmarks.targets import NEWSGROUPS_256_KIB, compact_newsgroups_pipeline

    news = datasets.load("20news", data_dir)
    pipe = compact_newsgroups_pipeline({**NEWSGROUPS_256_KIB, "max_iter": 1})
    pipe.fit(news.X_train, news.y_train)
    features_step = pipe[:-1]
    X = features_step.transform(news.X_test)
    clf = pipe[-1]
    projector, path = clf.projector_, clf.linear_path_
    features = np.unique(X.indices).astype(np.int64)
    _, weights = projector._structure(projector.n_bits)
    n_classes = len(clf.classes_)
    hasher = HashingVectorizer(n_features=2**20, alternate_sign=False)  # pipeline_speed.py's peer
    svc = LinearSVC().fit(hasher.transform(news.X_train), news.y_train)
    hashed = hasher.transform(news.X_test)
    counter = pipe[0][0]  # the counting step of the features (a pipeline)
    in_its_place = HashingVectorizer(**counter.get_params())  # the same matrix
    return {
        "256 KiB pipeline: FastHashingVectorizer -> log1p -> Normalizer": best_ms(
            lambda: features_step.transform(news.X_test), 3
        ),
        "256 KiB pipeline: FastHashingVectorizer": best_ms(
            lambda: counter.transform(news.X_test), 3
        ),
        "256 KiB pipeline: FastHashingVectorizer, one document (median)": 1e3
        * one_row_latency(counter.transform, news.X_test),
        "256 KiB pipeline: HashingVectorizer in its place": best_ms(
            lambda: in_its_place.transform(news.X_test), 3
        ),
        "256 KiB pipeline: HashingVectorizer in its place, one document (median)": 1e3
        * one_row_latency(in_its_place.transform, news.X_test),
        "256 KiB pipeline: ProjectionNet predict": best_ms(lambda: clf.predict(X)),
        **threaded_predict(clf, X),
        "256 KiB pipeline: linear path scores": best_ms(lambda: path.scores(X, n_classes)),
        "256 KiB pipeline: projection (projector.transform)": best_ms(
            lambda: projector.transform(X)
        ),
        "256 KiB pipeline: projection entries of the words present": best_ms(
            lambda: _inference.projection_entries(
                projector.seed_,
                features,
                projector.n_bits,
                projector.n_slots_,
                weights,
                projector.n_features_in_,
            )
        ),
        "peer: HashingVectorizer": best_ms(lambda: hasher.transform(news.X_test), 3),
        "peer: HashingVectorizer, one document (median)": 1e3
        * one_row_latency(hasher.transform, news.X_test),
        "peer: LinearSVC predict": best_ms(lambda: svc.predict(hashed)),
    }


def threaded_predict(clf, X):
    with all_threads() as n:
        return {
            f"256 KiB pipeline: ProjectionNet predict, {n} threads": best_ms(lambda: clf.predict(X))
        }


def dense_batch(data_dir):
    """A 200-row MNIST batch times dense projection rows, and the
    gradient, by the kernel (where built) and by torch."""
    import torch

    from sklearn_pnet import _torch_pnet

    X = np.asarray(datasets.load("mnist", data_dir).X_train[:200], dtype=np.float32)
    rng = np.random.RandomState(0)
    P = rng.randn(X.shape[1], 256).astype(np.float32)
    G = rng.randn(X.shape[0], 256).astype(np.float32)
    Xt, Pt, Gt = (torch.from_numpy(a) for a in (X, P, G))
    times = {
        "MNIST batch: torch X @ P": best_ms(lambda: Xt @ Pt, 200),
        "MNIST batch: torch X.T @ G": best_ms(lambda: Xt.T @ Gt, 200),
    }
    dense_product = getattr(_torch_pnet, "dense_product", None)
    if dense_product is not None:
        out = np.empty((X.shape[0], 256), dtype=np.float32)
        grad = np.empty((X.shape[1], 256), dtype=np.float32)
        n, m = X.shape
        times["MNIST batch: dense_product X @ P"] = best_ms(
            lambda: dense_product(X, P, out, n, m, 256, False), 200
        )
        times["MNIST batch: dense_product X.T @ G"] = best_ms(
            lambda: dense_product(X, G, grad, n, m, 256, True), 200
        )
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="as for run.py")
    parser.add_argument(
        "--busy", action="store_true", help="a CPU-bound process runs beside (as speed.py's)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    busy = busy_process() if args.busy else None
    try:
        with threadpool_limits(1):
            import torch

            torch.set_num_threads(1)
            times = {}
            for part in (newsgroups_projection, pipeline_kernels, dense_batch):
                times.update(part(args.data_dir))
    finally:
        if busy is not None:
            busy.terminate()
    n_documents = 7532  # 20 Newsgroups' test set, for the per-document column
    for name, ms in times.items():
        whole_set = "MNIST" not in name and "one document" not in name
        per_document = f"{1e3 * ms / n_documents:8.2f} us a document" if whole_set else ""
        print(f"{name:60s} {ms:8.3f} ms {per_document}")


if __name__ == "__main__":
    main()
