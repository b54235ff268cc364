"""Train on a text stream that never sits in memory whole: ``partial_fit``.

Documents arrive in chunks; ``HashingVectorizer`` turns each chunk into
features with no vocabulary to fit, and ``ProjectionNetClassifier.
partial_fit`` trains one epoch over it. The first call needs every class
(``classes=``) and sets up the projection's thresholds and the networks
from the first chunk; memory stays that of one chunk and the networks,
however long the stream (``benchmarks/SCALING.md`` measures it). The script
prints the test accuracy after each pass over 20 Newsgroups and the
process's peak memory.

The data come from scikit-learn's ``fetch_20newsgroups`` cache in
``$SCIKIT_LEARN_DATA`` (or ``~/scikit_learn_data``), or under
``--data-dir`` (a directory with a ``scikit_learn_data`` folder, such as
the project's ``../shared/data``).

Run it from the project root::

    python examples/out_of_core_text.py --data-dir ../shared/data
    python examples/out_of_core_text.py --data-dir ../shared/data --small  # seconds
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import resource
from pathlib import Path

import numpy as np
from sklearn.datasets import fetch_20newsgroups
from sklearn.feature_extraction.text import HashingVectorizer

from sklearn_pnet import ProjectionNetClassifier

SMALL_CATEGORIES = ["alt.atheism", "comp.graphics", "rec.autos", "sci.space"]


def stream(documents, labels, chunk_size):
    """The corpus as ``(documents, labels)`` chunks, as a reader of files
    or of a queue would yield them."""
    for start in range(0, len(labels), chunk_size):
        yield documents[start : start + chunk_size], labels[start : start + chunk_size]


def main(data_dir=None, small=False):
    kwargs = {"categories": SMALL_CATEGORIES} if small else {}
    if data_dir is not None:
        kwargs.update(data_home=Path(data_dir) / "scikit_learn_data", download_if_missing=False)
    train = fetch_20newsgroups(subset="train", **kwargs)
    test = fetch_20newsgroups(subset="test", **kwargs)
    documents, labels = train.data, train.target
    if small:
        documents, labels, chunk_size, passes = documents[:600], labels[:600], 200, 2
        clf = ProjectionNetClassifier(64, teacher_hidden_layer_sizes=(16,), random_state=0)
    else:
        chunk_size, passes = 1000, 5
        clf = ProjectionNetClassifier(256, teacher_hidden_layer_sizes=(128,), random_state=0)
    hasher = HashingVectorizer(n_features=2**18, alternate_sign=False)
    X_test = hasher.transform(test.data)
    classes = np.unique(labels)
    for n_pass in range(1, passes + 1):
        for chunk, y in stream(documents, labels, chunk_size):
            clf.partial_fit(hasher.transform(chunk), y, classes=classes)
        print(
            f"pass {n_pass}: {clf.n_iter_} chunks, {clf.t_} documents seen, "
            f"test accuracy {clf.score(X_test, test.target):.3f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MB, chunks of {chunk_size} documents")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", help="directory holding scikit_learn_data/ (default: $SCIKIT_LEARN_DATA)"
    )
    parser.add_argument("--small", action="store_true", help="4 topics, 600 documents, 2 passes")
    args = parser.parse_args()
    main(args.data_dir, args.small)
