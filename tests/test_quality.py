"""Quality bars on real data (issues #2, #4 and #16).

The digits test runs by default (the data ship with scikit-learn); the
others read ``../shared/data`` (or ``$SKLEARN_PNET_DATA``) and are marked
slow: ``python -m pytest -m slow tests/test_quality.py``. The full targets,
at the settings the issues name, are measured by ``benchmarks/targets.py``;
these tests check the same things with fewer epochs where accuracy allows,
and sizes with one epoch (training does not change a model's size).
"""

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.pipeline import make_pipeline

from benchmarks import datasets, targets
from sklearn_pnet import ProjectionNetClassifier, model_size_bytes

KIB = 1024
# Short trainings stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.integration
def test_digits_at_256_bits():
    digits = datasets.load("digits")
    clf = ProjectionNetClassifier(n_bits=256, random_state=0).fit(digits.X_train, digits.y_train)
    assert clf.score(digits.X_test, digits.y_test) >= 0.95


@pytest.mark.slow
def test_design_card_pipeline_on_four_topics(data_dir):
    default, random = targets.design_card(data_dir)
    # The design-card pipeline is the default one: >= 65% (issue #2) and
    # >= 85% (issue #4). The paper's random projection is only reported
    # (64.4% in TARGETS.md); what must hold is that the trained default
    # beats it, which is why it is the default.
    assert default["accuracy"] >= 0.85
    assert default["accuracy"] > random["accuracy"] + 0.1


@pytest.mark.slow
def test_design_card_on_twenty_newsgroups(data_dir):
    # Issue #16: only n_bits=256 given, all 20 classes, >= 78% with the
    # classifier dumped in <= 64 KiB (78.5% and 63,732 bytes in SPEED.md).
    news = datasets.load("20news", data_dir)
    pipe = make_pipeline(TfidfVectorizer(), ProjectionNetClassifier(n_bits=256, random_state=0))
    pipe.fit(news.X_train, news.y_train)
    assert pipe.score(news.X_test, news.y_test) >= 0.78
    assert model_size_bytes(pipe[-1])["total"] <= 64 * KIB


@pytest.mark.slow
def test_mnist_beats_the_paper_at_720_bits(data_dir):
    mnist = datasets.load("mnist", data_dir)
    clf = ProjectionNetClassifier(n_bits=720, max_iter=20, random_state=0)
    clf.fit(mnist.X_train, mnist.y_train)
    assert clf.score(mnist.X_test, mnist.y_test) > 0.923


@pytest.mark.slow
def test_sizes_of_the_targets(data_dir):
    news = datasets.load("20news", data_dir)
    X = TfidfVectorizer().fit_transform(news.X_train)
    clf = ProjectionNetClassifier(n_bits=256, max_iter=1, random_state=0).fit(X, news.y_train)
    assert model_size_bytes(clf)["total"] <= 64_000
    pipe = make_pipeline(
        HashingVectorizer(n_features=2**20, alternate_sign=False),
        ProjectionNetClassifier(
            n_bits=1024,
            density=0.125,
            n_weights=622592,
            weight_clusters=8,
            loss_weights=(0.0, 0.0, 1.0),
            max_iter=1,
            random_state=0,
        ),
    )
    assert model_size_bytes(pipe.fit(news.X_train, news.y_train))["total"] <= 256 * KIB
    mnist = datasets.load("mnist", data_dir)
    clf = ProjectionNetClassifier(
        n_bits=256,
        hidden_layer_sizes=(128,),
        n_weights=8192,
        weight_clusters=16,
        max_iter=1,
        random_state=0,
    )
    clf.fit(mnist.X_train[:2000], mnist.y_train[:2000])
    assert model_size_bytes(clf)["total"] <= 32 * KIB
    assert np.isfinite(clf.predict_proba(mnist.X_test[:10])).all()
