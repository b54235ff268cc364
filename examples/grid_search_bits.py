"""Choosing the bit budget with GridSearchCV.

``n_bits`` trades accuracy for size: the student weighs about ``n_bits``
times the number of classes (and hidden units) in float16. A
``ProjectionNetClassifier`` is an ordinary scikit-learn estimator, so
``GridSearchCV`` finds the smallest budget that is good enough. The
script searches ``n_bits`` on the digits data, prints the cross-validated
accuracy and the fitted size at each budget, and saves the curve as a PNG.

Run it from the project root::

    python examples/grid_search_bits.py                       # writes grid_search_bits.png
    python examples/grid_search_bits.py --small --out /tmp/bits.png   # seconds
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")  # write a file, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402

from sklearn_pnet import ProjectionNetClassifier, model_size_bytes  # noqa: E402


def main(out="grid_search_bits.png", small=False):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.3, stratify=y, random_state=0
    )
    if small:
        budgets, cv, max_iter = [16, 64], 2, 10
    else:
        budgets, cv, max_iter = [8, 16, 32, 64, 128, 256, 512], 5, 60

    # Every fit trains a fixed number of epochs, on purpose: no need to warn
    # that it could go on.
    warnings.simplefilter("ignore", ConvergenceWarning)
    estimator = ProjectionNetClassifier(
        teacher_hidden_layer_sizes=(64,), max_iter=max_iter, random_state=0
    )
    search = GridSearchCV(estimator, {"n_bits": budgets}, cv=cv)
    search.fit(X_train, y_train)

    scores = search.cv_results_["mean_test_score"]
    errors = search.cv_results_["std_test_score"]
    # Sizes need a fitted model per budget; the search keeps only the best.
    sizes = [
        model_size_bytes(clone(estimator).set_params(n_bits=b).fit(X_train, y_train))["total"]
        for b in budgets
    ]
    print("n_bits   CV accuracy      pickled bytes")
    for b, score, error, size in zip(budgets, scores, errors, sizes):
        print(f"{b:6d}   {score:.3f} +- {error:.3f}   {size:13,}")
    best = search.best_params_["n_bits"]
    print(f"best n_bits: {best}, test accuracy {search.score(X_test, y_test):.3f}")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(budgets, scores, yerr=errors, marker="o", capsize=3)
    for b, score, size in zip(budgets, scores, sizes):
        ax.annotate(
            f"{size / 1000:.1f} kB",
            (b, score),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=7,
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("n_bits")
    ax.set_ylabel(f"{cv}-fold CV accuracy")
    ax.set_title("ProjectionNet on digits: accuracy vs bit budget")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"saved {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="grid_search_bits.png", help="PNG file to write")
    parser.add_argument("--small", action="store_true", help="two budgets, 2 folds, few epochs")
    args = parser.parse_args()
    main(args.out, args.small)
