"""scikit-learn's own estimator checks over every public estimator of
numeric input. FastHashingVectorizer takes raw text, which the checks skip
("Can't test estimator ... which requires input of type"), as they skip
HashingVectorizer: tests/test_text.py holds it to HashingVectorizer's
output, errors and tags instead."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_pnet import HashedNetClassifier, LSHProjector, ProjectionNetClassifier

pytestmark = [
    pytest.mark.integration,
    # Checks train with few epochs on purpose.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

# Mini-batch training: a sample of weight 2 is not the same as the sample
# seen twice in a shuffled epoch, as for scikit-learn's SGDClassifier.
SAMPLE_WEIGHT_REASON = "sample_weight is not equivalent to repeating samples with mini-batch SGD"


def expected_failed_checks(estimator):
    if isinstance(estimator, ProjectionNetClassifier):
        return {
            "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON,
            "check_sample_weight_equivalence_on_sparse_data": SAMPLE_WEIGHT_REASON,
        }
    return {}


@parametrize_with_checks(
    [
        LSHProjector(n_bits=32, random_state=0),
        ProjectionNetClassifier(
            n_bits=64, teacher_hidden_layer_sizes=(16,), max_iter=100, random_state=0
        ),
        ProjectionNetClassifier(n_bits=64, linear_buckets=64, max_iter=100, random_state=0),
        HashedNetClassifier((16,), compression=1 / 4, max_iter=100, random_state=0),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
