"""Models dump and load with skops.io, trusting only the types the package
lists, and predict identically."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sklearn_pnet import (
    SKOPS_TRUSTED_TYPES,
    FastHashingVectorizer,
    HashedNetClassifier,
    LSHProjector,
    ProjectionNetClassifier,
)

sio = pytest.importorskip("skops.io")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = {
    "lsh": LSHProjector(n_bits=16, random_state=0),
    "lsh_sparse_float32": LSHProjector(n_bits=16, density=0.25, dtype=np.float32, random_state=0),
    "pnet_int8": ProjectionNetClassifier(
        n_bits=32, teacher_hidden_layer_sizes=(8,), max_iter=2, random_state=0
    ),
    "pnet_random_kmeans_pruned": ProjectionNetClassifier(
        n_bits=32,
        projection="random",
        hidden_layer_sizes=(8,),
        teacher_hidden_layer_sizes=(8,),
        weight_clusters=4,
        sparsity=0.5,
        max_iter=2,
        random_state=0,
    ),
    "pnet_float16_pruned": ProjectionNetClassifier(
        n_bits=32, weight_dtype="float16", sparsity=0.5, max_iter=2, random_state=0
    ),
    "pnet_linear_path": ProjectionNetClassifier(
        n_bits=32, linear_buckets=40, max_iter=2, random_state=0
    ),
    "hashednet_float16": HashedNetClassifier((8,), max_iter=2, random_state=0),
    "hashednet_int8_hashbias": HashedNetClassifier(
        (8,), weight_dtype="int8", hash_bias=True, max_iter=2, random_state=0
    ),
    "hashednet_kmeans": HashedNetClassifier(
        (8,), weight_clusters=8, early_stopping=True, max_iter=2, random_state=0
    ),
}


def _output(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.transform(X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_skops_round_trip_trusting_the_listed_types(name, digits, tmp_path):
    X_train, X_test, y_train, _ = digits
    model = clone(ESTIMATORS[name]).fit(X_train, y_train)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    # Nothing beyond the listed types is needed...
    assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(_output(loaded, X_test), _output(model, X_test))
    assert loaded.get_params() == model.get_params()


def test_skops_round_trip_of_a_text_pipeline(tmp_path):
    texts = ["the rocket went to space", "god and religion", "graphics card and images"] * 10
    y = [0, 1, 2] * 10
    pipe = make_pipeline(
        FastHashingVectorizer(n_features=2**12),
        ProjectionNetClassifier(n_bits=16, max_iter=2, random_state=0),
    ).fit(texts, y)
    path = tmp_path / "pipeline.skops"
    sio.dump(pipe, path)
    assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(path, trusted=SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_proba(texts), pipe.predict_proba(texts))


def test_skops_refuses_untrusted_types(digits, tmp_path):
    X_train, _, y_train, _ = digits
    path = tmp_path / "model.skops"
    sio.dump(clone(ESTIMATORS["hashednet_float16"]).fit(X_train, y_train), path)
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path, trusted=[])
