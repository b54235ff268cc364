"""Quickstart: a ProjectionNet student on scikit-learn's digits.

This is sklearn-pnet's main job in a few lines. A teacher MLP and a small
student that sees only ``n_bits`` hashed bits of each image are trained
together; the student alone is kept, as numpy arrays, and pickles to a few
kilobytes. The script prints the teacher's and the student's test
accuracy, and the student's pickled size next to that of a scikit-learn
``MLPClassifier`` as wide as the teacher.

Run it from the project root::

    python examples/quickstart_digits.py
    python examples/quickstart_digits.py --small   # a few seconds, as the tests run it
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_pnet import ProjectionNetClassifier, model_size_bytes


def main(small=False):
    X, y = load_digits(return_X_y=True)
    X = X / 16  # pixels in [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    n_bits, hidden, max_iter = (64, (32,), 15) if small else (256, (256,), 100)
    # Both networks train a fixed number of epochs, on purpose: no need to
    # warn that they could go on.
    warnings.simplefilter("ignore", ConvergenceWarning)

    clf = ProjectionNetClassifier(
        n_bits=n_bits,
        teacher_hidden_layer_sizes=hidden,
        max_iter=max_iter,
        random_state=0,
        # Keep the teacher to report its accuracy below; asking for it also
        # trains it (loss_weights="auto" is then the paper's joint loss; by
        # default the student is trained alone).
        keep_teacher=True,
    )
    clf.fit(X_train, y_train)
    teacher_accuracy = (clf.teacher_predict(X_test) == y_test).mean()
    student_accuracy = clf.score(X_test, y_test)

    # Ship the student alone: predicting needs neither the teacher nor torch.
    clf.trim_for_prediction()
    student_bytes = model_size_bytes(clf)["total"]

    mlp = MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, random_state=0)
    mlp.fit(X_train, y_train)
    mlp_bytes = model_size_bytes(mlp)["total"]

    print(f"teacher  MLP{hidden} (torch)      accuracy {teacher_accuracy:.3f}")
    print(
        f"student  {n_bits} bits -> softmax     accuracy {student_accuracy:.3f}   "
        f"pickled {student_bytes:,} bytes"
    )
    print(
        f"MLPClassifier{hidden}       accuracy {mlp.score(X_test, y_test):.3f}   "
        f"pickled {mlp_bytes:,} bytes"
    )
    print(f"the student is {mlp_bytes / student_bytes:.1f}x smaller than the MLPClassifier")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="fewer bits and epochs (seconds)")
    main(parser.parse_args().small)
