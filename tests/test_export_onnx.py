"""ProjectionNetClassifier and LSHProjector through skl2onnx and onnxruntime:
identical labels and bits, probabilities within 1e-5, the projection
computed from the seed (the file stays near the joblib size)."""

from pathlib import Path

import numpy as np
import pytest
from conftest import DATA_DIR
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_pnet import LSHProjector, ProjectionNetClassifier

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn_pnet._size import dumped_size  # noqa: E402  (after the skips)
from sklearn_pnet.export import register_onnx_converters  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
register_onnx_converters()
# Short trainings stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CASES = {
    "int8": {},
    "float32": {"weight_dtype": "float32"},
    "float16-hidden": {"weight_dtype": "float16", "hidden_layer_sizes": (16,)},
    "kmeans": {"weight_clusters": 16},
    "pruned-hidden": {"sparsity": 0.5, "hidden_layer_sizes": (16,)},
    "trained-dense": {"density": 1.0},
    "random-sparse": {"projection": "random"},
    "random-dense": {"projection": "random", "density": 1.0},
    "linear-path": {"linear_buckets": 40},
}


def session(model, X):
    options = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    onx = skl2onnx.to_onnx(model, X[:1], options=options, target_opset=18)
    data = onx.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return (lambda X: sess.run(None, {sess.get_inputs()[0].name: X})), len(data)


def check_classifier(clf, X, dtype):
    X = X.astype(dtype)
    run, _ = session(clf, X)
    labels, proba = run(X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_projection_net_digits(case, dtype):
    X, y = load_digits(return_X_y=True)
    clf = ProjectionNetClassifier(n_bits=64, max_iter=2, random_state=0, **CASES[case]).fit(X, y)
    check_classifier(clf, X, dtype)


def test_linear_path_two_classes():
    X, y = load_digits(return_X_y=True)
    clf = ProjectionNetClassifier(n_bits=32, linear_buckets=30, max_iter=2, random_state=0)
    check_classifier(clf.fit(X, y % 2), X, np.float64)


@pytest.mark.parametrize("density", ["auto", 1.0])
def test_lsh_projector_bits(density):
    X, _ = load_digits(return_X_y=True)
    projector = LSHProjector(n_bits=100, density=density, random_state=0).fit(X)
    run, _ = session(projector, X)
    np.testing.assert_array_equal(run(X)[0], projector.transform(X))


def test_pipeline_ending_in_the_classifier():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(
        FunctionTransformer(), ProjectionNetClassifier(n_bits=32, max_iter=1, random_state=0)
    )
    pipe.fit(X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}, target_opset=18)
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels = sess.run(None, {sess.get_inputs()[0].name: X})[0]
    np.testing.assert_array_equal(labels, pipe.predict(X))


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["int8", "kmeans", "pruned-hidden", "trained-dense", "random-sparse"]
)
def test_mnist_subset_and_size(case, mnist_subset):
    X, y, X_test = mnist_subset
    clf = ProjectionNetClassifier(n_bits=256, max_iter=2, random_state=0, **CASES[case]).fit(X, y)
    check_classifier(clf, X_test, np.float64)
    _, onnx_bytes = session(clf, X_test)
    assert onnx_bytes < 2 * dumped_size(clf)


@pytest.mark.slow
def test_newsgroups_tfidf_dense_input():
    folder = DATA_DIR / "scikit_learn_data"
    if not folder.is_dir():
        pytest.skip(f"20 Newsgroups not found in {folder}")
    from sklearn.datasets import fetch_20newsgroups
    from sklearn.feature_extraction.text import TfidfVectorizer

    topics = ["alt.atheism", "talk.religion.misc", "comp.graphics", "sci.space"]
    train, test = (
        fetch_20newsgroups(
            data_home=str(folder), subset=s, categories=topics, download_if_missing=False
        )
        for s in ("train", "test")
    )
    # Dense input only: a 5,000-word vocabulary keeps the dense batch small.
    vectorizer = TfidfVectorizer(max_features=5000).fit(train.data)
    X, X_test = vectorizer.transform(train.data), vectorizer.transform(test.data).toarray()
    clf = ProjectionNetClassifier(n_bits=256, max_iter=2, random_state=0).fit(X, train.target)
    check_classifier(clf, X_test, np.float64)
    _, onnx_bytes = session(clf, X_test)
    assert onnx_bytes < 2 * dumped_size(clf)
