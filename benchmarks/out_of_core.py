"""Out-of-core text: 20 Newsgroups streamed in chunks through
``HashingVectorizer`` into ``ProjectionNetClassifier.partial_fit``.

Two measurements (issue 14), written to stdout as a Markdown table:

- **memory**: the peak resident memory (``ru_maxrss``) of a fresh process
  that streams the training documents once (1x) or four times over (4x,
  the same documents repeated as one stream), chunk by chunk, into
  ``partial_fit``; beside it, that of a process that vectorises the whole
  1x corpus and calls ``fit`` (one epoch). Every process first reads the
  corpus (scikit-learn's cache file is one archive) and imports torch: the
  table gives the peak and its growth over that baseline.
- **accuracy**: test accuracy after each of ``--passes`` passes of
  ``partial_fit`` over the chunks, against ``fit`` for as many epochs with
  the same settings.

Run it from the project root (one thread, as the other benchmarks)::

    OMP_NUM_THREADS=1 python -m benchmarks.out_of_core --data-dir ../shared/data
    python -m benchmarks.out_of_core --data-dir ../shared/data --small   # seconds
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer

from benchmarks import datasets

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 2**18


def vectorizer():
    return HashingVectorizer(n_features=N_FEATURES, alternate_sign=False)


def classifier(small):
    from sklearn_pnet import ProjectionNetClassifier

    if small:
        return ProjectionNetClassifier(64, teacher_hidden_layer_sizes=(16,), random_state=0)
    return ProjectionNetClassifier(256, teacher_hidden_layer_sizes=(128,), random_state=0)


def load(data_dir, small):
    """Training documents (in a fixed shuffled order: a stream should not
    come sorted by class), labels, and the test split."""
    split = datasets.load("20news_4topics" if small else "20news", data_dir)
    order = np.random.RandomState(0).permutation(len(split.y_train))
    X_train, y_train = split.X_train[order], split.y_train[order]
    if small:
        return X_train[:600], y_train[:600], split.X_test[:300], split.y_test[:300]
    return X_train, y_train, split.X_test, split.y_test


def chunks(documents, labels, chunk_size, repeat=1):
    """``(documents, labels)`` chunks of a stream that goes over the corpus
    ``repeat`` times; only one chunk is vectorised at a time."""
    rows = itertools.chain.from_iterable(itertools.repeat(range(len(labels)), repeat))
    while batch := list(itertools.islice(rows, chunk_size)):
        yield documents[batch], labels[batch]


def stream_pass(clf, documents, labels, classes, chunk_size, repeat=1):
    hasher = vectorizer()
    for docs, y in chunks(documents, labels, chunk_size, repeat):
        clf.partial_fit(hasher.transform(docs), y, classes=classes)
    return clf


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(data_dir, small, chunk_size, how):
    """In this (fresh) process: the baseline and peak RSS of one stream
    (``how`` = "stream1", "stream4") or a whole-corpus fit ("fit")."""
    import torch  # noqa: F401  (in the baseline, as for the fit)

    X_train, y_train, _, _ = load(data_dir, small)
    classes = np.unique(y_train)
    clf = classifier(small)
    baseline = peak_rss_mb()
    start = time.perf_counter()
    if how == "fit":
        clf.set_params(max_iter=1).fit(vectorizer().transform(X_train), y_train)
        n_docs = len(y_train)
    else:
        repeat = int(how[-1])
        stream_pass(clf, X_train, y_train, classes, chunk_size, repeat)
        n_docs = repeat * len(y_train)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(how=how, docs=n_docs, baseline=baseline, peak=peak_rss_mb(), s=seconds)))


def memory_table(data_dir, small, chunk_size):
    rows = []
    for how in ("stream1", "stream4", "fit"):
        command = [sys.executable, "-m", "benchmarks.out_of_core", "--memory", how]
        command += ["--chunk-size", str(chunk_size)] + (["--small"] if small else [])
        if data_dir:
            command += ["--data-dir", str(data_dir)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| run | documents | baseline RSS MB | peak RSS MB | growth MB | time s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    names = {"stream1": "partial_fit, 1x stream", "stream4": "partial_fit, 4x stream"}
    for r in rows:
        name = names.get(r["how"], "fit (1 epoch) on the whole 1x corpus")
        growth = r["peak"] - r["baseline"]
        print(
            f"| {name} | {r['docs']} | {r['baseline']:.0f} | {r['peak']:.0f} | {growth:.0f} "
            f"| {r['s']:.1f} |"
        )


def accuracy_table(data_dir, small, chunk_size, passes):
    X_train, y_train, X_test, y_test = load(data_dir, small)
    classes = np.unique(y_train)
    X_test = vectorizer().transform(X_test)
    clf = classifier(small)
    print("| model | epochs (passes) | test accuracy | time s |")
    print("| --- | ---: | ---: | ---: |")
    start = time.perf_counter()
    for n_pass in range(1, passes + 1):
        stream_pass(clf, X_train, y_train, classes, chunk_size)
        seconds = time.perf_counter() - start
        accuracy = clf.score(X_test, y_test)
        name = f"partial_fit, chunks of {chunk_size}"
        print(f"| {name} | {n_pass} | {accuracy:.4f} | {seconds:.1f} |")
    start = time.perf_counter()
    full = classifier(small).set_params(max_iter=passes)
    full.fit(vectorizer().transform(X_train), y_train)
    seconds = time.perf_counter() - start
    print(f"| fit, whole corpus | {passes} | {full.score(X_test, y_test):.4f} | {seconds:.1f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--small", action="store_true", help="4 topics, 600 documents")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--memory", choices=["stream1", "stream4", "fit"], help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args(argv)
    data_dir = datasets.resolve_data_dir(args.data_dir)
    chunk_size = min(args.chunk_size, 200) if args.small else args.chunk_size
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.memory:
        return measure_memory(data_dir, args.small, chunk_size, args.memory)
    if not args.skip_memory:
        memory_table(data_dir, args.small, chunk_size)
    if not args.skip_accuracy:
        accuracy_table(data_dir, args.small, chunk_size, args.passes)


if __name__ == "__main__":
    main()
