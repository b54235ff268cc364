"""The classifiers on dask (the ``dask`` extra): scikit-learn's joblib on a
``distributed.LocalCluster`` and dask-ml's ``Incremental`` over
``partial_fit``. Worker processes import ``sklearn_pnet`` as installed
(``pip install -e .``), or from ``PYTHONPATH``."""

import os
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.model_selection import GridSearchCV

from sklearn_pnet import ProjectionNetClassifier

distributed = pytest.importorskip("distributed")
dask_array = pytest.importorskip("dask.array")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    # Workers import this checkout's package, as the test process does.
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    os.environ["PYTHONPATH"], previous = path, os.environ.get("PYTHONPATH")
    try:
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_grid_search_on_dask_scores_as_on_loky(client, digits):
    X_train, _, y_train, _ = digits
    search = GridSearchCV(
        ProjectionNetClassifier(teacher_hidden_layer_sizes=(16,), max_iter=5, random_state=0),
        {"n_bits": [32, 64]},
        cv=2,
        n_jobs=2,
    )
    with joblib.parallel_backend("loky"):
        loky = search.fit(X_train, y_train).cv_results_
    with joblib.parallel_backend("dask"):
        dask = search.fit(X_train, y_train).cv_results_
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(dask[key], loky[key])
    # The workers imported this package, not another copy.
    where = client.run(lambda: sys.modules["sklearn_pnet"].__file__)
    import sklearn_pnet

    assert set(where.values()) == {sklearn_pnet.__file__}


def test_incremental_trains_on_chunked_hashed_text(client):
    rng = np.random.RandomState(0)
    words = np.array(["ball", "goal", "team", "vote", "law", "party", "the", "a"])
    labels = rng.randint(2, size=400)
    topic = np.where(labels[:, None] == 0, rng.randint(0, 3, (400, 6)), rng.randint(3, 6, (400, 6)))
    docs = [" ".join(words[np.r_[t, rng.randint(6, 8, 2)]]) for t in topic]
    # Dense hashed features, so that dask slices them as ndarray chunks.
    X = HashingVectorizer(n_features=2**8, alternate_sign=False).transform(docs).toarray()
    X = dask_array.from_array(X.astype(np.float32), chunks=(100, X.shape[1]))
    y = dask_array.from_array(labels, chunks=100)
    # Each block is one optimiser step (batches of 100): 12 steps in all,
    # so a learning rate that gets somewhere in 12 steps, and blocks in a
    # fixed order. (At the default 0.001 the accuracy after 12 steps
    # depended on the order and on which worker each block ran, and fell
    # below 0.9 in about one run in ten.)
    clf = dask_ml_wrappers.Incremental(
        ProjectionNetClassifier(
            32, teacher_hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0
        ),
        random_state=0,
    )
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1])
    fitted = clf.estimator_
    assert fitted.n_iter_ == 12 and fitted.t_ == 1200
    predicted = clf.predict(X).compute()
    assert (predicted == labels).mean() > 0.9
