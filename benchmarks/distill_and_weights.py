"""Distilling a fitted scikit-learn classifier, and ``class_weight``
(issue 14).

- ``teachers``: on 20 Newsgroups (tf-idf) and MNIST, a ProjectionNet student
  trained with no teacher, with its torch teacher, and distilled from a
  fitted ``LinearSVC`` and ``LogisticRegression``: test accuracy, the
  student's pickled bytes (after ``trim_for_prediction``), the student's
  fit time and, apart, the fitted teacher's.
- ``class_weight``: SMS spam (tf-idf), macro-F1 with ``class_weight=None``
  and ``"balanced"``.

Short runs on purpose (``--max-iter`` epochs, MNIST subsampled to
``--mnist-train`` samples), one thread. Run it from the project root::

    OMP_NUM_THREADS=1 python -m benchmarks.distill_and_weights --data-dir ../shared/data
    python -m benchmarks.distill_and_weights --data-dir ../shared/data --small  # seconds
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from benchmarks import datasets
from sklearn_pnet import ProjectionNetClassifier, model_size_bytes


def features(name, data_dir, n_train):
    split = datasets.load(name, data_dir, n_train=n_train, n_test=n_train and n_train // 2)
    if datasets.DATASETS[name].kind == "text":
        tfidf = TfidfVectorizer(sublinear_tf=True, dtype=np.float32)
        return tfidf.fit_transform(split.X_train), tfidf.transform(split.X_test), split
    return split.X_train, split.X_test, split


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return estimator, time.perf_counter() - start


def teachers_table(data_dir, max_iter, mnist_train, small):
    print(
        "| dataset | teacher | student accuracy | student bytes | student fit s "
        "| teacher fit s | teacher accuracy |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, n_train in (("20news", 1000 if small else None), ("mnist", mnist_train)):
        X_train, X_test, split = features(name, data_dir, n_train)
        y_train, y_test = split.y_train, split.y_test
        fitted = {
            "LinearSVC": timed_fit(LinearSVC(), X_train, y_train),
            "LogisticRegression": timed_fit(LogisticRegression(max_iter=300), X_train, y_train),
        }
        variants = [("none", dict(loss_weights=(0.0, 0.0, 1.0)), None)]
        variants += [("torch MLP (256,)", {}, None)]
        variants += [(f"fitted {k}", dict(teacher=est), (est, s)) for k, (est, s) in fitted.items()]
        for label, params, teacher in variants:
            clf = ProjectionNetClassifier(256, max_iter=max_iter, random_state=0, **params)
            clf, seconds = timed_fit(clf, X_train, y_train)
            accuracy = clf.score(X_test, y_test)
            size = model_size_bytes(clf.trim_for_prediction())["total"]
            teacher_s = teacher_acc = "-"
            if teacher is not None:
                teacher_s = f"{teacher[1]:.1f}"
                teacher_acc = f"{teacher[0].score(X_test, y_test):.4f}"
            print(
                f"| {name} ({len(y_train)} train) | {label} | {accuracy:.4f} | {size:,} "
                f"| {seconds:.1f} | {teacher_s} | {teacher_acc} |",
                flush=True,
            )


def class_weight_table(data_dir, max_iter, small):
    X_train, X_test, split = features("sms_spam", data_dir, 1000 if small else None)
    print("| dataset | class_weight | macro-F1 | accuracy |")
    print("| --- | --- | ---: | ---: |")
    for class_weight in (None, "balanced"):
        clf = ProjectionNetClassifier(
            64, max_iter=max_iter, random_state=0, class_weight=class_weight
        ).fit(X_train, split.y_train)
        predicted = clf.predict(X_test)
        macro_f1 = f1_score(split.y_test, predicted, average="macro")
        accuracy = (predicted == split.y_test).mean()
        print(f"| sms_spam | {class_weight} | {macro_f1:.4f} | {accuracy:.4f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--mnist-train", type=int, default=20000)
    parser.add_argument("--small", action="store_true", help="1000 samples, 2 epochs")
    parser.add_argument("--only", choices=["teachers", "class_weight"])
    args = parser.parse_args(argv)
    data_dir = datasets.resolve_data_dir(args.data_dir)
    max_iter = 2 if args.small else args.max_iter
    mnist_train = 1000 if args.small else args.mnist_train
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.only != "class_weight":
        teachers_table(data_dir, max_iter, mnist_train, args.small)
    if args.only != "teachers":
        class_weight_table(data_dir, max_iter, args.small)


if __name__ == "__main__":
    main()
