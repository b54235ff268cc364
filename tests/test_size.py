"""Sizes are honest: what ``joblib.dump`` writes, split by component."""

import joblib
import pytest
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import make_pipeline

from sklearn_pnet import ProjectionNetClassifier, model_size_bytes


def _pipeline(n_bits):
    docs = ["red apple", "green apple", "red car", "green car"] * 10
    labels = ["fruit", "fruit", "car", "car"] * 10
    return make_pipeline(
        HashingVectorizer(n_features=2**20),
        ProjectionNetClassifier(
            n_bits, n_weights=512, teacher_hidden_layer_sizes=(4,), max_iter=3, random_state=0
        ),
    ).fit(docs, labels)


def test_total_is_the_size_of_the_dumped_file(tmp_path):
    pipe = _pipeline(16)
    joblib.dump(pipe, tmp_path / "model.joblib")
    report = model_size_bytes(pipe)
    assert report["total"] == (tmp_path / "model.joblib").stat().st_size
    assert report["total"] < 5000  # no vocabulary, no 2**20 anything


def test_components_follow_what_they_hold():
    small, large = model_size_bytes(_pipeline(16)), model_size_bytes(_pipeline(256))

    # 240 more bits: 240 more 3-bit weights per class (2 classes), and the
    # projector's 240 more float32 thresholds (give or take the bytes that
    # pickle spends on the lengths); the parameters do not move.
    def grew(name):
        name = f"projectionnetclassifier.{name}"
        return large[name] - small[name]

    assert grew("coefs_") == pytest.approx(2 * 240 * 3 / 8, abs=4)
    assert grew("projector_.threshold_") == pytest.approx(4 * 240, abs=4)
    assert large["hashingvectorizer.(parameters)"] == small["hashingvectorizer.(parameters)"]
    assert small["(pickle framing)"] >= 0
