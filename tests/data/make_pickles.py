"""Write small fitted models and their predictions, to pin the model format.

Run from the project root with the version whose format is to be pinned
installed; it writes ``tests/data/v<version>/``. The files in
``tests/data/v0.1.0`` were made by this script on sklearn-pnet 0.1.0 (commit
868024b), before the modules were reorganised; ``tests/test_model_format.py``
loads them with today's code and checks every prediction.

    python tests/data/make_pickles.py
"""

from pathlib import Path

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits

import sklearn_pnet
from sklearn_pnet import HashedNetClassifier, LSHProjector, ProjectionNetClassifier

# The defaults of 0.1.0 that later versions changed, given explicitly so that
# today's code refits the same models: n_weights, weight_clusters (k-means
# storage was then applied after training, without fine-tuning), the loss
# weights, and the trained projection's 16 bits per feature (16 of 32).
V0_1_0 = {
    "n_weights": 32768,
    "weight_clusters": None,
    "density": 0.5,
    "loss_weights": (1.0, 0.1, 1.0),
}

MODELS = {
    "pnet_trained_int8": ProjectionNetClassifier(
        n_bits=32, max_iter=5, random_state=0, **V0_1_0
    ),
    "pnet_random_float32": ProjectionNetClassifier(
        n_bits=32, projection="random", weight_dtype="float32", max_iter=5, random_state=0,
        **{**V0_1_0, "density": "auto"},
    ),
    "pnet_hidden_kmeans": ProjectionNetClassifier(
        n_bits=32, hidden_layer_sizes=(8,), max_iter=5, random_state=0,
        **{**V0_1_0, "weight_clusters": 4, "n_weights": 512},
    ),
    "pnet_pruned_float16": ProjectionNetClassifier(
        n_bits=32, weight_dtype="float16", sparsity=0.5, max_iter=5, random_state=0, **V0_1_0
    ),
    "hashednet_float16": HashedNetClassifier((8,), max_iter=5, random_state=0),
    "hashednet_int8_hashbias": HashedNetClassifier(
        (8,), weight_dtype="int8", hash_bias=True, max_iter=5, random_state=0
    ),
    "hashednet_kmeans": HashedNetClassifier((8,), weight_clusters=4, max_iter=5, random_state=0),
}


def train_test_rows(X, y):
    """The rows the models are fitted on and the rows they predict."""
    return X[:300], y[:300], X[300:332]


def main():
    X, y = load_digits(return_X_y=True)
    X_train, y_train, X_test = train_test_rows(X, y)
    out = Path(__file__).parent / f"v{sklearn_pnet.__version__}"
    out.mkdir(exist_ok=True)
    expected = {}  # X_test is rebuilt from load_digits, not stored
    for name, model in MODELS.items():
        model.fit(X_train, y_train)
        joblib.dump(model, out / f"{name}.joblib")
        expected[f"{name}.proba"] = model.predict_proba(X_test)
        expected[f"{name}.predict"] = model.predict(X_test)
    # A sparse-input projector: sparse projections of CSR input.
    X_sparse = sp.csr_matrix(np.where(X_train > 8, X_train, 0))
    for name, projector in {
        "lsh_dense": LSHProjector(n_bits=24, density=1.0, random_state=0).fit(X_train),
        "lsh_sparse_csr": LSHProjector(n_bits=24, random_state=0).fit(X_sparse),
    }.items():
        joblib.dump(projector, out / f"{name}.joblib")
        expected[f"{name}.bits"] = projector.transform(X_test)
        expected[f"{name}.csr_bits"] = projector.transform(sp.csr_matrix(X_test))
    np.savez_compressed(out / "expected.npz", **expected)


if __name__ == "__main__":
    main()
