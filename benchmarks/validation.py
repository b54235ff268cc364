"""Score one configuration on a validation split of the training data.

How the configurations of the compression targets (``targets.py``) were
chosen without looking at the test split: fit on 80% of the official
training split, score on the other 20% (stratified, seed 0)::

    python benchmarks/validation.py --data-dir ../shared/data --dataset mnist \\
        --params "n_bits=256, hidden_layer_sizes=(128,), n_weights=8192, weight_clusters=16, max_iter=60"
    python benchmarks/validation.py --data-dir ../shared/data --dataset 20news --vectorizer hashing \\
        --params "n_bits=1024, n_weights=393216, weight_clusters=16, max_iter=30"

``--params`` are keyword arguments of ``ProjectionNetClassifier``
(``random_state=0`` unless given). The runs made this way, and what they
gave, are listed in ``benchmarks/VALIDATION.md``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import ast
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_pnet import ProjectionNetClassifier, model_size_bytes

# Modules beside this one: benchmarks/ is a folder of scripts, not a package.
import datasets

LOADERS = {
    "mnist": lambda d: datasets.load("mnist", d),
    "20news": lambda d: datasets.load("20news", d),
    "20news_4topics": lambda d: datasets.load_newsgroups_4topics(datasets.resolve_data_dir(d)),
}
VECTORIZERS = {
    "tfidf": TfidfVectorizer,
    "hashing": lambda: HashingVectorizer(n_features=2**20, alternate_sign=False),
}


def parse_params(text):
    """``"a=1, b=(2,)"`` as a dict, literals only."""
    call = ast.parse(f"f({text})", mode="eval").body
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--dataset", choices=list(LOADERS), required=True)
    parser.add_argument("--vectorizer", choices=list(VECTORIZERS), default="tfidf")
    parser.add_argument("--params", default="")
    args = parser.parse_args(argv)
    data = LOADERS[args.dataset](args.data_dir)
    X_fit, X_val, y_fit, y_val = train_test_split(
        data.X_train, data.y_train, test_size=0.2, random_state=0, stratify=data.y_train
    )
    params = {"random_state": 0, **parse_params(args.params)}
    model = ProjectionNetClassifier(**params)
    if data.kind == "text":
        model = make_pipeline(VECTORIZERS[args.vectorizer](), model)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_fit, y_fit)
    print(
        f"{args.dataset} {args.vectorizer if data.kind == 'text' else ''} {params}: "
        f"validation accuracy {model.score(X_val, y_val):.4f}, "
        f"{model_size_bytes(model)['total']:,} bytes, fit {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
