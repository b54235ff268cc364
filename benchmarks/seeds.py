"""Test accuracy of the defaults over several seeds, beside another configuration.

A single fit's test accuracy moves by a point or more with the seed on the
small test sets (TREC has 500 questions), more than the 0.5 points a change
of defaults may cost. This reports the mean over seeds of the defaults and
of a configuration given as ``--params`` (by default the defaults of
sklearn-pnet before issue #16), on the benchmark's features. It reports; the
defaults were chosen on validation splits (``VALIDATION.md``)::

    python benchmarks/seeds.py --data-dir ../shared/data --datasets digits trec sms_spam
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

if __package__ in (None, ""):
    # Run as a script: import the benchmarks package and the project's own
    # sklearn_pnet from the project root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.run import features_of
from benchmarks.validation import parse_params
from sklearn_pnet import ProjectionNetClassifier

# The defaults that issue #16 changed, as they were.
BEFORE_16 = "n_weights=32768, weight_clusters=None, density=0.0625, loss_weights=(1.0, 0.1, 1.0)"


def accuracies_over_seeds(features, params, seeds):
    """Test accuracy (%) of ``ProjectionNetClassifier(**params)`` per seed."""
    accuracies = []
    for seed in range(seeds):
        clf = ProjectionNetClassifier(**params, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(features.X_train, features.dataset.y_train)
        accuracies.append(100 * clf.score(features.X_test, features.dataset.y_test))
    return accuracies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--datasets", nargs="+", choices=list(datasets.DATASETS), required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--params", default=BEFORE_16, help="the configuration to compare")
    args = parser.parse_args(argv)
    for name in args.datasets:
        features = features_of(datasets.load(name, args.data_dir))
        for label, params in [(args.params, parse_params(args.params)), ("defaults", {})]:
            accuracies = accuracies_over_seeds(features, params, args.seeds)
            print(
                f"{name} {label}: test accuracy over seeds 0-{args.seeds - 1}: "
                f"{np.mean(accuracies):.2f}% ({', '.join(f'{a:.1f}' for a in accuracies)})",
                flush=True,
            )


if __name__ == "__main__":
    main()
