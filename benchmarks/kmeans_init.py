"""How to initialise the 1-D k-means of ``weight_clusters``: measured.

For a trained layer of each classifier on digits, and k = 2, 4, 8, 16
shared values, this compares the initialisations of
``sklearn_pnet._storage.kmeans_1d`` ("linear" grid between the extremes,
"quantile" of the weights) with the optimal 1-D k-means, computed exactly
by dynamic programming: the squared error of each, relative to the
optimum's, and the test accuracy of the model with that layer re-encoded.

    python benchmarks/kmeans_init.py

Results are in ``benchmarks/VALIDATION.md``, "k-means initialisation".
"""

# SPDX-License-Identifier: BSD-3-Clause

import copy
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_pnet import HashedNetClassifier, ProjectionNetClassifier
from sklearn_pnet._storage import kmeans_1d


def optimal_kmeans_1d(values, k):
    """Exact 1-D k-means (dynamic programming on the sorted values, O(k n^2)).

    Returns ``(centroids, codes)`` of the least squared error.
    """
    order = np.argsort(values)
    x = values[order].astype(np.float64)
    n = len(x)
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])
    j = np.arange(n + 1)[:, None]  # segment start
    i = np.arange(n + 1)[None, :]  # segment end (exclusive)
    count = np.maximum(i - j, 1)
    cost = s2[i] - s2[j] - (s1[i] - s1[j]) ** 2 / count
    cost = np.where(i > j, cost, np.inf)
    best = cost[0].copy()  # one cluster over x[:i]
    starts = []
    for _ in range(1, k):
        total = best[:, None] + cost
        starts.append(total.argmin(axis=0))
        best = total.min(axis=0)
    # Walk back the segment starts.
    bounds, end = [n], n
    for argmins in reversed(starts):
        end = argmins[end]
        bounds.append(end)
    bounds = sorted(set([0, *bounds]))
    codes_sorted = np.zeros(n, dtype=np.int64)
    centroids = []
    for c, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        codes_sorted[a:b] = c
        centroids.append(x[a:b].mean())
    codes = np.empty(n, dtype=np.int64)
    codes[order] = codes_sorted
    return np.asarray(centroids), codes


def squared_error(values, centroids, codes):
    return float(((values - centroids[codes]) ** 2).sum())


def layers(X_train, y_train):
    """(name, fitted model, getter, setter) of a trained layer of each kind."""
    pnet = ProjectionNetClassifier(
        n_bits=256, weight_dtype="float32", max_iter=30, random_state=0
    )
    hnet = HashedNetClassifier((256,), weight_dtype="float32", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pnet.fit(X_train, y_train)
        hnet.fit(X_train, y_train)

    def set_coef(model, values):
        model.coefs_[0] = values.reshape(model.coefs_[0].shape).astype(np.float32)

    def set_weights(model, values):
        model.weights_[0] = values.astype(np.float32)

    return [
        ("ProjectionNet student 256x10", pnet, lambda m: m.coefs_[0], set_coef),
        (f"HashedNet layer 1 ({hnet.n_weights_[0]})", hnet, lambda m: m.weights_[0], set_weights),
    ]


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    print("| layer | k | init | SSE / optimum | test accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for name, model, get, put in layers(X_train, y_train):
        values = np.asarray(get(model), dtype=np.float64).ravel()
        print(f"| {name} | - | float32 | - | {model.score(X_test, y_test):.4f} |")
        for k in (2, 4, 8, 16):
            optimum = optimal_kmeans_1d(values, k)
            best_sse = squared_error(values, *optimum)
            runs = {
                "linear": kmeans_1d(values, k, init="linear"),
                "quantile": kmeans_1d(values, k, init="quantile"),
                "optimal (DP)": optimum,
            }
            for init, (centroids, codes) in runs.items():
                centroids = np.asarray(centroids, dtype=np.float64)
                encoded = copy.deepcopy(model)
                put(encoded, centroids[codes])
                ratio = squared_error(values, centroids, codes) / best_sse
                accuracy = encoded.score(X_test, y_test)
                print(f"| {name} | {k} | {init} | {ratio:.3f} | {accuracy:.4f} |")


if __name__ == "__main__":
    main()
