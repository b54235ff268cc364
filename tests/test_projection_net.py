"""ProjectionNetClassifier's own behaviour: the teacher, the projections,
sparse input, sizes, pipelines. The contract it shares with
HashedNetClassifier is in test_classifiers.py."""

import os

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_pnet import ProjectionNetClassifier, model_size_bytes
from sklearn_pnet._size import dumped_size

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(n_bits=64, teacher_hidden_layer_sizes=(32,), max_iter=30, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, y_train, _ = digits
    return ProjectionNetClassifier(**FAST, keep_teacher=True).fit(X_train, y_train)


def test_kept_teacher_learns_and_predicts(digits, fitted):
    _, X_test, _, y_test = digits
    assert np.mean(fitted.teacher_predict(X_test) == y_test) > 0.9
    proba = fitted.teacher_predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_student_is_stored_in_the_asked_form(fitted):
    # int8 by default on a narrow input ("auto" storage): numpy codes and
    # scales, decoded by np.asarray.
    assert [c.shape for c in fitted.coefs_] == [(64, 10)]
    assert type(fitted.coefs_[0]).__name__ == "QuantizedArray"
    assert np.asarray(fitted.coefs_[0]).dtype == np.float32
    X, y = np.random.RandomState(0).rand(30, 64), np.arange(30) % 3
    clf = ProjectionNetClassifier(**FAST, weight_clusters=8).set_params(max_iter=2)
    # 8 shared values: 3-bit codes, whatever weight_dtype.
    for layer in clf.fit(X, y).coefs_ + [clf.projector_.weights_]:
        assert type(layer).__name__ == "ClusteredArray" and layer.n_code_bits == 3
        assert len(np.unique(np.asarray(layer))) <= 8
    clf.set_params(weight_clusters=None)
    for dtype in ("float16", "float32"):
        clf.set_params(weight_dtype=dtype).fit(X, y)
        assert all(isinstance(c, np.ndarray) and c.dtype == dtype for c in clf.coefs_)

    assert not hasattr(clf, "teacher_predict_proba")


def test_twenty_class_model_pickles_to_kilobytes():
    X, y = make_classification(
        600, 300, n_informative=40, n_classes=20, n_clusters_per_class=1, random_state=0
    )
    clf = ProjectionNetClassifier(
        256,
        projection="random",
        teacher_hidden_layer_sizes=(16,),
        max_iter=2,
        weight_dtype="float32",
        weight_clusters=None,
        random_state=0,
    )
    clf.fit(sp.csr_matrix(X), y)
    # 256 x 20 float32 weights are 20 KB; everything else is small.
    assert 20_000 < dumped_size(clf) < 25_000
    # float16 halves the weights, int8 quarters them.
    assert 10_000 < dumped_size(clf.set_params(weight_dtype="float16").fit(X, y)) < 15_000
    assert 5_000 < dumped_size(clf.set_params(weight_dtype="int8").fit(X, y)) < 10_000
    # The default trained projection adds one int8 weight per entry
    # (300 features x 32 bits each) to that.
    trained = clf.set_params(projection="trained").fit(X, y)
    assert trained.projector_.weights_.shape == (300 * 32,)
    assert 15_000 < dumped_size(trained) < 20_000
    # 3-bit k-means codes leave 3/8 of the weights' bytes (with the
    # thresholds and the parameters: about half the file).
    assert 7_000 < dumped_size(clf.set_params(weight_clusters=8).fit(X, y)) < 10_000


def test_sparse_input_trains_a_sparse_first_layer(make_csr):
    X = make_csr(300, 200_000, 30, seed=0)
    y = np.asarray(X[:, :100_000].sum(axis=1) > X[:, 100_000:].sum(axis=1)).ravel()
    clf = ProjectionNetClassifier(
        64, teacher_hidden_layer_sizes=(8,), max_iter=3, keep_teacher=True, random_state=0
    ).fit(X, y)
    first = clf.teacher_[0]
    assert type(first).__name__ == "SparseLinear"
    assert tuple(first.weight.shape) == (200_000, 8)
    assert clf.predict(X).shape == (300,)


def test_teacher_on_sparse_input_learns(digits):
    # The sparse first layer is updated by its own optimiser (RowAdam): a
    # teacher that did not learn would still leave a working student.
    X_train, X_test, y_train, y_test = digits
    clf = ProjectionNetClassifier(**FAST, keep_teacher=True)
    clf.fit(sp.csr_matrix(X_train), y_train)
    assert np.mean(clf.teacher_predict(sp.csr_matrix(X_test)) == y_test) > 0.9


def test_custom_teacher_gets_sparse_csr_batches(make_csr):
    import torch

    seen = []

    class Teacher(torch.nn.Module):
        def __init__(self, n_features, n_classes):
            super().__init__()
            self.linear = torch.nn.Linear(n_features, n_classes)

        def forward(self, x):
            seen.append(x.layout)
            return torch.sparse.mm(x, self.linear.weight.T) + self.linear.bias

    X = make_csr(100, 1000, 10)
    y = np.arange(100) % 3
    ProjectionNetClassifier(32, teacher=Teacher, max_iter=2, random_state=0).fit(X, y)
    assert seen and set(seen) == {torch.sparse_csr}


def test_no_teacher_when_only_the_label_term_is_on(digits):
    X_train, _, y_train, _ = digits
    clf = ProjectionNetClassifier(**FAST, loss_weights=(0, 0, 1), keep_teacher=True)
    clf.fit(X_train, y_train)
    # keep_teacher, but no teacher was trained: no teacher_predict either.
    assert not hasattr(clf, "teacher_")
    assert not hasattr(clf, "teacher_predict")


def test_the_default_trains_the_student_alone_and_a_given_teacher_is_used(digits, monkeypatch):
    from sklearn_pnet._training import Trainer

    teachers = []
    init = Trainer.__init__

    def recording_init(self, teacher, *args, **kwargs):
        teachers.append(teacher)
        init(self, teacher, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", recording_init)
    X_train, _, y_train, _ = digits
    params = dict(n_bits=32, teacher_hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    clf = ProjectionNetClassifier(**params).fit(X_train, y_train)
    assert teachers.pop() is None and not hasattr(clf, "teacher_")
    # keep_teacher asks for a teacher: "auto" gives the paper's loss weights.
    clf = ProjectionNetClassifier(**params, keep_teacher=True).fit(X_train, y_train)
    assert teachers.pop() is not None and hasattr(clf, "teacher_")
    assert clf._loss_weights() == (1.0, 0.1, 1.0)


def test_auto_storage_follows_the_width_of_the_input(make_csr):
    from sklearn_pnet._projection_net import AUTO_PROJECTION_BYTES

    y = np.arange(200) % 2
    # Narrow (100 features x 32 bits = 3,200 entries): one int8 weight each.
    narrow = ProjectionNetClassifier(64, max_iter=2, random_state=0)
    narrow.fit(make_csr(200, 100, 5, seed=0), y)
    assert narrow.projector_.weights_.shape == (100 * 32,)
    assert type(narrow.projector_.weights_).__name__ == "QuantizedArray"
    assert type(narrow.coefs_[0]).__name__ == "QuantizedArray"
    # Wide (2**20 hashed features): the 57 KiB hold 3-bit codes of 8 shared
    # values, 2.7 times as many weights as int8 would.
    wide = ProjectionNetClassifier(64, max_iter=2, random_state=0)
    wide.fit(make_csr(200, 2**20, 5, seed=0), y)
    weights = wide.projector_.weights_
    assert weights.shape == (AUTO_PROJECTION_BYTES * 8 // 3,)
    assert type(weights).__name__ == "ClusteredArray" and weights.n_code_bits == 3
    assert 3 * weights.shape[0] // 8 <= AUTO_PROJECTION_BYTES
    # Given explicitly, n_weights and weight_clusters are what they say.
    given = ProjectionNetClassifier(64, n_weights=1000, weight_clusters=None, max_iter=2)
    given.fit(make_csr(200, 2**20, 5, seed=0), y)
    assert type(given.projector_.weights_).__name__ == "QuantizedArray"
    assert given.projector_.weights_.shape == (1000,)


def test_shared_weights_are_fine_tuned_tied(digits, monkeypatch):
    from sklearn_pnet import _storage
    from sklearn_pnet._training import Trainer

    X_train, X_test, y_train, _ = digits
    fits = []
    fit = Trainer.fit

    def recording_fit(self, *args, **kwargs):
        fits.append(kwargs.get("max_iter"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    params = dict(n_bits=32, max_iter=40, tol=0.0, random_state=0)
    shared = ProjectionNetClassifier(**params, weight_clusters=4).fit(X_train, y_train)
    # The main run, then one epoch (max_iter // 40) on the tied weights.
    assert fits == [None, 1] and shared.n_iter_ == 41
    for layer in [*shared.coefs_, shared.projector_.weights_]:
        assert len(np.unique(np.asarray(layer))) <= 4
    # Stored exactly as trained: re-encoding values already shared is exact.
    values = np.asarray(shared.coefs_[0])
    np.testing.assert_array_equal(np.asarray(_storage.encode(values, n_clusters=4)), values)
    # The fine-tuning moved the centroids: they are not the k-means ones
    # of the weights before it.
    unshared = ProjectionNetClassifier(**params, weight_clusters=None, weight_dtype="float32")
    unshared.fit(X_train, y_train)
    clustered = _storage.encode(np.asarray(unshared.coefs_[0]), n_clusters=4)
    assert not np.array_equal(np.sort(clustered.centroids), np.unique(values))


def test_bad_parameters_are_named():
    X, y = np.random.RandomState(0).rand(20, 3), np.arange(20) % 2
    with pytest.raises(ValueError, match="n_bits"):
        ProjectionNetClassifier(n_bits=0).fit(X, y)
    with pytest.raises(ValueError, match="loss_weights"):
        ProjectionNetClassifier(loss_weights=(1, 0, 0)).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        ProjectionNetClassifier(hidden_layer_sizes=(0,)).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        dict(weight_dtype="float32"),
        dict(weight_dtype="int8"),
        dict(weight_clusters=32),
        dict(sparsity=0.5),
        dict(sparsity=0.5, weight_dtype="int8"),
    ],
)
def test_compressed_students_predict_like_the_full_one(params):
    X, y = load_digits(return_X_y=True)
    common = dict(
        n_bits=64,
        projection="trained",
        hidden_layer_sizes=(32,),
        weight_clusters=None,
        max_iter=20,
        random_state=0,
    )
    full = ProjectionNetClassifier(**common, weight_dtype="float32").fit(X, y)
    small = ProjectionNetClassifier(**{**common, **params}).fit(X, y)
    assert small.score(X, y) > full.score(X, y) - 0.05
    if params != dict(weight_dtype="float32"):
        assert model_size_bytes(small)["coefs_"] < model_size_bytes(full)["coefs_"]


def test_random_projection_projects_the_training_data_once(digits, monkeypatch):
    from sklearn_pnet import _lsh_projector

    X_train, _, y_train, _ = digits
    calls = []
    project = _lsh_projector.hashed_projection

    def counting(X, *args, **kwargs):
        calls.append(X.shape[0])
        return project(X, *args, **kwargs)

    monkeypatch.setattr(_lsh_projector, "hashed_projection", counting)
    ProjectionNetClassifier(**FAST, projection="random").set_params(max_iter=1).fit(
        X_train, y_train
    )
    assert calls == [len(X_train)]


@pytest.mark.integration
def test_text_pipeline_and_grid_search_in_two_processes():
    docs = [f"{w} {w} story number {i}" for i in range(60) for w in ["space", "god", "image"]][:120]
    labels = [d.split()[0] for d in docs]
    from sklearn.feature_extraction.text import TfidfVectorizer

    pipe = make_pipeline(
        TfidfVectorizer(),
        ProjectionNetClassifier(teacher_hidden_layer_sizes=(8,), max_iter=50, random_state=0),
    )
    pipe.fit(docs, labels)
    assert pipe.predict(["god story"]).tolist() == ["god"]

    def torch_threads(estimator, X, y):
        import torch

        return torch.get_num_threads()

    search = GridSearchCV(
        pipe,
        {"projectionnetclassifier__n_bits": [16, 64]},
        cv=2,
        n_jobs=2,
        scoring={"accuracy": "accuracy", "threads": torch_threads},
        refit="accuracy",
    ).fit(docs, labels)
    assert search.best_score_ > 0.9
    # Each of the 2 workers trains with at most its share of the cores.
    assert search.cv_results_["mean_test_threads"].max() <= max(1, os.cpu_count() // 2)


@pytest.mark.parametrize("sparsity", [0.0, 0.25, 0.5, 0.9])
def test_pruning_keeps_exactly_the_top_weights_even_when_tied(sparsity):
    import torch

    from sklearn_pnet._training import magnitude_mask

    # 640 weights of 4 magnitudes, mostly tied: a threshold on the
    # magnitude would prune all the weights tied at it.
    weight = torch.tensor(np.tile([0.5, -0.5, 0.25, 1.0, -0.25], 128), dtype=torch.float32)
    weight = weight.view(64, 10)
    n_pruned = int(sparsity * weight.numel())
    mask = magnitude_mask(weight, n_pruned)
    assert int((mask == 0).sum()) == n_pruned
    kept, pruned = weight.abs()[mask == 1], weight.abs()[mask == 0]
    if n_pruned:
        assert pruned.max() <= kept.min()
    torch.testing.assert_close(magnitude_mask(weight, n_pruned), mask)


def test_pruned_weights_stay_zero_when_the_rest_are_shared(digits):
    X_train, X_test, y_train, y_test = digits
    clf = ProjectionNetClassifier(
        n_bits=32, sparsity=0.5, weight_clusters=4, max_iter=20, random_state=0
    ).fit(X_train, y_train)
    coef = np.asarray(clf.coefs_[0])
    assert np.mean(coef == 0) >= 0.5
    assert len(np.unique(coef[coef != 0])) <= 4
    assert clf.score(X_test, y_test) > 0.5
