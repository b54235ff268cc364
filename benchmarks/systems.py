"""The systems the benchmark compares, and how each one is measured.

:data:`SYSTEMS` is the registry: one entry per system (or per family of
systems swept over bit budgets). An entry knows which kinds of data it
applies to, builds its estimator from the run's :class:`Settings` and
returns one result row per fitted configuration; its ``families`` (see
``report.Family``) say where the report shows those rows. Adding a peer is
adding one entry: an :class:`Estimator` for anything with
``fit``/``predict``, or an object with the same ``name``, ``families``,
``applies_to``, ``available`` and ``run`` for anything else (see
``fasttext_system.FastText``).

Every ProjectionNet entry spells out all of its parameters, so that a
change of a default in the package does not silently change the
benchmark; one entry, "ProjectionNet (default settings)", measures the
defaults on purpose.
"""

# SPDX-License-Identifier: BSD-3-Clause

import copy
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.random_projection import SparseRandomProjection
from sklearn.svm import LinearSVC

import sklearn_pnet
from benchmarks import datasets
from benchmarks.fasttext_system import FastText
from benchmarks.measure import CaughtWarnings, PeakMemory, Timer, accuracy, best_rows_per_second
from benchmarks.report import Family
from sklearn_pnet import ProjectionNetClassifier

# The one import of the package's size measure in the benchmarks (run.py
# takes it from here); not in measure.py, which fastText's environment
# imports without the package.
from sklearn_pnet._size import dumped_size

SEED = 0


@dataclass
class Settings:
    """What a run trains: the same for every dataset, except the budgets.

    ``max_iter`` is the number of epochs of every network (ProjectionNet,
    its teacher, MLPClassifier, fastText); with ``early_stopping`` the
    networks that support it stop on a held-out 10% instead.
    """

    quick: bool = False
    budgets: tuple = (64, 128, 256, 720, 1024, 2048)
    # Extra budgets of some datasets (their registry entries'), e.g. the
    # paper's 100 bits on MNIST.
    extra_budgets: dict = field(default_factory=datasets.extra_budgets)
    max_iter: int = 50
    early_stopping: bool = True
    n_iter_no_change: int = 5
    teacher_hidden_layer_sizes: tuple = (256,)
    linear_max_iter: int = 300
    device: str = "cpu"
    threads: int = 1
    repeats: int = 3
    # Predict timings repeat until they add up to this many seconds.
    timing_seconds: float = 0.2
    fasttext_python: str = None
    fasttext_skip_reason: str = None
    fasttext_params: dict = field(
        default_factory=lambda: {"dim": 50, "epoch": 25, "lr": 0.5, "wordNgrams": 1, "minCount": 1}
    )
    fasttext_cutoffs: tuple = (20000, 5000, 2000)

    def budgets_for(self, dataset_name):
        extra = self.extra_budgets.get(dataset_name, ())
        return tuple(sorted(set(self.budgets) | set(extra)))


@dataclass
class Features:
    """A dataset with the features every system shares.

    For text, ``vectorizer`` is the fitted ``TfidfVectorizer`` that made
    ``X_train``/``X_test`` from the documents in ``dataset``; for images it
    is None and the features are the pixels.
    """

    dataset: object
    X_train: object
    X_test: object
    vectorizer: object = None
    vectorizer_seconds: float = 0.0


# ---------------------------------------------------------------- builders


def projection_net(
    settings,
    n_bits,
    *,
    projection,
    joint,
    hidden_layer_sizes=(),
    weight_dtype="int8",
    weight_clusters=None,
    sparsity=0.0,
):
    """ProjectionNet with every parameter explicit (see module docstring).

    ``joint=False`` trains the student alone on the labels: no teacher, no
    distillation, the "without joint training" ablation. The storage
    parameters make the compressed students of the equal-bytes table.
    """
    return ProjectionNetClassifier(
        n_bits=n_bits,
        hidden_layer_sizes=hidden_layer_sizes,
        teacher_hidden_layer_sizes=settings.teacher_hidden_layer_sizes,
        teacher=None,
        projection=projection,
        n_weights=32768,
        density="auto",
        center=True,
        loss_weights=(1.0, 0.1, 1.0) if joint else (0.0, 0.0, 1.0),
        temperature=1.0,
        max_iter=settings.max_iter,
        batch_size=200,
        learning_rate_init=0.001,
        early_stopping=settings.early_stopping,
        validation_fraction=0.1,
        n_iter_no_change=settings.n_iter_no_change,
        tol=1e-4,
        shuffle=True,
        random_state=SEED,
        verbose=False,
        warm_start=False,
        weight_dtype=weight_dtype,
        weight_clusters=weight_clusters,
        sparsity=sparsity,
        device=settings.device,
        # The teacher is kept to report it; the student's size is measured
        # without it (see student_only).
        keep_teacher=joint,
    )


def default_projection_net(settings, n_bits):
    """The package's defaults; only --quick shortens training."""
    if settings.quick:
        return ProjectionNetClassifier(random_state=SEED, max_iter=settings.max_iter)
    return ProjectionNetClassifier(random_state=SEED)


def mlp(settings, n_bits):
    """The full network: scikit-learn's MLP, as wide as the teacher."""
    return MLPClassifier(
        hidden_layer_sizes=settings.teacher_hidden_layer_sizes,
        batch_size=200,
        max_iter=settings.max_iter,
        early_stopping=settings.early_stopping,
        n_iter_no_change=settings.n_iter_no_change,
        random_state=SEED,
    )


def random_projection_lr(settings, n_bits):
    """Random projection to ``n_bits`` reals, then a linear model: random
    features without joint training (and with the matrix stored)."""
    return make_pipeline(
        SparseRandomProjection(n_components=n_bits, random_state=SEED),
        LogisticRegression(max_iter=settings.linear_max_iter),
    )


def hashing_sgd(n_features):
    """``HashingVectorizer(n_features)`` + ``SGDClassifier``: the classic
    small text pipeline, with no vocabulary to store."""

    def build(settings, n_bits):
        return Pipeline(
            [
                ("hashing", HashingVectorizer(n_features=n_features)),
                (
                    "sgd",
                    SGDClassifier(max_iter=settings.linear_max_iter, tol=1e-4, random_state=SEED),
                ),
            ]
        )

    return build


def sparsify(pipeline):
    """Store the linear model's coefficients as a sparse matrix: smaller
    wherever hashed columns were never seen (all-zero weights)."""
    pipeline[-1].sparsify()


# ------------------------------------------------------------- measurement


def student_only(estimator):
    """The fitted model as it ships: a ProjectionNet trimmed for prediction
    (a shallow copy: the estimator keeps its teacher for the teacher's row);
    any other model as it is."""
    if not hasattr(estimator, "trim_for_prediction"):
        return estimator
    return copy.copy(estimator).trim_for_prediction()


def _n_iter(estimator):
    """Epochs (or solver iterations) run, where the estimator says."""
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    n_iter = getattr(final, "n_iter_", None)
    return None if n_iter is None else int(np.max(n_iter))


class Estimator:
    """An entry of the registry for an estimator with ``fit``/``predict``.

    Parameters
    ----------
    name : str
        Name of its family (the ``family`` column) and row label; a swept
        entry appends " <n> bits".
    build : callable
        ``build(settings, n_bits)`` returns an unfitted estimator;
        ``n_bits`` is None unless ``sweep``.
    kinds : tuple of str
        Kinds of data (``datasets.KINDS``) the entry runs on.
    sweep : bool
        Build and measure one estimator per bit budget.
    text_pipeline : bool
        The estimator is a Pipeline taking raw documents (its own
        vectorizer) rather than the shared features.
    finalize : callable
        Applied to the fitted estimator, inside the timed fit.
    teacher : Family
        Also report the kept teacher of the first budget's fit, as a row
        of this family; None: no teacher row.
    available : callable
        Returns False where the entry cannot run (a missing class).
    budgets : tuple of int
        Bit budgets of a swept entry, instead of the run's.
    datasets : tuple of str
        Names of the only datasets the entry runs on (default: all).
    **report
        The other fields of its :class:`~benchmarks.report.Family`, which
        say where the report shows its rows: ``color``, ``marker``,
        ``curve``, ``level``, ``reference``, ``paper``, ``equal_bytes``.
    """

    def __init__(
        self,
        name,
        build,
        *,
        kinds=datasets.KINDS,
        sweep=False,
        text_pipeline=False,
        finalize=None,
        teacher=None,
        available=lambda: True,
        budgets=None,
        datasets=None,
        **report,
    ):
        self.name = name
        self.family = Family(name, **report)
        self.build = build
        self.kinds = kinds
        self.sweep = sweep
        self.text_pipeline = text_pipeline
        self.finalize = finalize
        self.teacher = teacher
        self.available = available
        self.budgets = budgets
        self.datasets = datasets

    @property
    def families(self):
        """The families of its rows: its own, and its teacher's."""
        return (self.family,) if self.teacher is None else (self.family, self.teacher)

    def applies_to(self, dataset):
        return dataset.kind in self.kinds and (
            self.datasets is None or dataset.name in self.datasets
        )

    def run(self, features, settings, log=print):
        budgets = settings.budgets_for(features.dataset.name) if self.sweep else (None,)
        if self.sweep and self.budgets is not None:
            budgets = self.budgets
        rows = []
        for i, n_bits in enumerate(budgets):
            name = self.name if n_bits is None else f"{self.name} {n_bits} bits"
            estimator = self.build(settings, n_bits)
            row, estimator = self._measure(name, estimator, features, settings)
            row["n_bits"] = n_bits if n_bits is not None else getattr(estimator, "n_bits", None)
            rows.append(row)
            log(_summary(row))
            if self.teacher is not None and i == 0:
                rows.append(teacher_row(estimator, row, features, settings, self.teacher.name))
                log(_summary(rows[-1]))
        return rows

    def _measure(self, name, estimator, features, settings):
        data = features.dataset
        if self.text_pipeline:
            # The pipeline's own vectorizer is stateless (hashing): apply it
            # outside the timed fit, as the shared tf-idf is for the others.
            vectorizer, model = estimator[:-1], estimator[-1]
            X_train = vectorizer.fit_transform(data.X_train)
            X_test = vectorizer.transform(data.X_test)
        else:
            vectorizer, model = features.vectorizer, estimator
            X_train, X_test = features.X_train, features.X_test
        with CaughtWarnings() as caught, PeakMemory() as memory, Timer() as timer:
            model.fit(X_train, data.y_train)
            if self.finalize is not None:
                self.finalize(estimator)
        rows_per_s, y_pred = best_rows_per_second(
            model.predict, X_test, len(data.y_test), settings.repeats, settings.timing_seconds
        )
        stored = student_only(model)
        row = {
            "system": name,
            "family": self.name,
            "accuracy": accuracy(data.y_test, y_pred),
            "model_bytes": dumped_size(stored),
            "fit_seconds": timer.seconds,
            "predict_rows_per_s": rows_per_s,
            "peak_rss_mb": memory.peak_rss_mb,
            "fit_mem_mb": memory.fit_mem_mb,
            "memory_method": memory.method,
            "n_iter": _n_iter(model),
            "params": " ".join(repr(estimator).split()),
            "warnings": ", ".join(caught.names),
        }
        if vectorizer is not None:
            pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", stored)])
            row["pipeline_bytes"] = dumped_size(pipeline)
            row["pipeline_rows_per_s"], _ = best_rows_per_second(
                pipeline.predict,
                data.X_test,
                len(data.y_test),
                settings.repeats,
                settings.timing_seconds,
            )
        return row, model


def teacher_row(estimator, student_row, features, settings, family):
    """The row, of ``family``, of the teacher kept by a jointly trained
    ProjectionNet.

    Its fit time and memory are those of the joint fit (teacher and
    student train together); its size is the dump of the torch module.
    """
    data = features.dataset
    hidden = "x".join(map(str, estimator.teacher_hidden_layer_sizes))
    rows_per_s, y_pred = best_rows_per_second(
        estimator.teacher_predict,
        features.X_test,
        len(data.y_test),
        settings.repeats,
        settings.timing_seconds,
    )
    row = dict(student_row)
    row.update(
        system=f"Teacher MLP({hidden}) of {student_row['system']}",
        family=family,
        n_bits=None,
        accuracy=accuracy(data.y_test, y_pred),
        model_bytes=dumped_size(estimator.teacher_),
        predict_rows_per_s=rows_per_s,
        params=f"teacher_hidden_layer_sizes={estimator.teacher_hidden_layer_sizes}",
        note="fit time and memory: the joint fit with its student",
    )
    if features.vectorizer is not None:
        vectorizer = features.vectorizer
        row["pipeline_bytes"] = dumped_size((vectorizer, estimator.teacher_))
        row["pipeline_rows_per_s"], _ = best_rows_per_second(
            lambda docs: estimator.teacher_predict(vectorizer.transform(docs)),
            data.X_test,
            len(data.y_test),
            settings.repeats,
            settings.timing_seconds,
        )
    return row


def _summary(row):
    return (
        f"  {row['system']:<52} acc {row['accuracy']:.4f}  {row['model_bytes']:>11,} B  "
        f"fit {row['fit_seconds']:7.1f} s  {row['predict_rows_per_s']:>11,.0f} rows/s"
    )


# ---------------------------------------------------------------- registry


def hashed_net(compression):
    """HashedNets (Chen et al., 2015): the MLP's shape, as wide as the
    teacher, with ``compression`` real weights per virtual one; every
    parameter explicit, as for ProjectionNet."""

    def build(settings, n_bits):
        return sklearn_pnet.HashedNetClassifier(
            hidden_layer_sizes=settings.teacher_hidden_layer_sizes,
            compression=compression,
            hash_bias=False,
            max_iter=settings.max_iter,
            batch_size=200,
            learning_rate_init=0.001,
            early_stopping=settings.early_stopping,
            validation_fraction=0.1,
            n_iter_no_change=settings.n_iter_no_change,
            tol=1e-4,
            shuffle=True,
            random_state=SEED,
            verbose=False,
            warm_start=False,
            weight_dtype="float16",
            weight_clusters=None,
            device=settings.device,
        )

    return build


def _has_hashednet():
    # Older versions of the package have no HashedNetClassifier.
    return hasattr(sklearn_pnet, "HashedNetClassifier")


# Datasets of the equal-bytes table of ProjectionNet, HashedNets and
# compressed students.
COMPRESSION_DATASETS = datasets.compression_datasets()

# Where the report shows each family (report.Family): a ProjectionNet and
# its student alone share a colour (dark: joint training, light: alone) and
# are curves over the bit budgets (solid: joint, dashed: without it).
SYSTEMS = [
    Estimator(
        "ProjectionNet random",
        lambda s, b: projection_net(s, b, projection="random", joint=True),
        sweep=True,
        teacher=Family("Teacher", color="#333333", marker="P", level=":", paper="full"),
        color="#1f77b4",
        marker="o",
        curve="-",
        paper="bits",
        equal_bytes="ProjectionNet, random projection",
    ),
    Estimator(
        "ProjectionNet trained",
        lambda s, b: projection_net(s, b, projection="trained", joint=True),
        sweep=True,
        color="#d62728",
        marker="s",
        curve="-",
        paper="bits",
        equal_bytes="ProjectionNet, trained projection",
    ),
    Estimator(
        "Student alone random",
        lambda s, b: projection_net(s, b, projection="random", joint=False),
        sweep=True,
        color="#9ecae1",
        marker="o",
        curve="--",
        paper="bits",
    ),
    Estimator(
        "Student alone trained",
        lambda s, b: projection_net(s, b, projection="trained", joint=False),
        sweep=True,
        color="#fc9272",
        marker="s",
        curve="--",
        paper="bits",
    ),
    Estimator(
        "ProjectionNet (default settings)", default_projection_net, color="#6a3d9a", marker="*"
    ),
    # Compressed students, for the equal-bytes comparison with HashedNets
    # (issue #4): the trained projection at two budgets, stored in 4 bits
    # a weight (k-means), pruned to 20% of its weights, or with a hidden
    # layer in 4 bits.
    *[
        Estimator(
            f"Compressed student: {name}",
            lambda s, b, params=params: projection_net(
                s, b, projection="trained", joint=True, **params
            ),
            sweep=True,
            budgets=(256, 1024),
            datasets=COMPRESSION_DATASETS,
            equal_bytes="Compressed students (k-means, pruning)",
        )
        for name, params in [
            ("k-means 16", {"weight_clusters": 16}),
            ("pruned 80%, int8", {"sparsity": 0.8}),
            ("hidden 128, k-means 16", {"hidden_layer_sizes": (128,), "weight_clusters": 16}),
        ]
    ],
    Estimator(
        "LogisticRegression",
        lambda s, b: LogisticRegression(max_iter=s.linear_max_iter),
        equal_bytes="Linear models",
    ),
    Estimator(
        "LinearSVC",
        lambda s, b: LinearSVC(random_state=SEED),
        reference=2,
        equal_bytes="Linear models",
    ),
    Estimator(
        "MLPClassifier",
        mlp,
        color="#7f7f7f",
        marker="X",
        level="-.",
        reference=1,
        paper="full",
        equal_bytes="MLPClassifier",
    ),
    Estimator(
        "SparseRandomProjection + LR",
        random_projection_lr,
        sweep=True,
        color="#2ca02c",
        marker="^",
        curve="--",
    ),
    Estimator(
        "HashedNet 1/8", hashed_net(1 / 8), available=_has_hashednet, equal_bytes="HashedNets"
    ),
    Estimator(
        "HashedNet 1/64", hashed_net(1 / 64), available=_has_hashednet, equal_bytes="HashedNets"
    ),
    Estimator(
        "HashedNet 1/512",
        hashed_net(1 / 512),
        available=_has_hashednet,
        datasets=COMPRESSION_DATASETS,
        equal_bytes="HashedNets",
    ),
    Estimator(
        "HashingVectorizer(2^18) + SGD", hashing_sgd(2**18), kinds=("text",), text_pipeline=True
    ),
    Estimator(
        "HashingVectorizer(2^18) + SGD, sparsify()",
        hashing_sgd(2**18),
        kinds=("text",),
        text_pipeline=True,
        finalize=sparsify,
    ),
    Estimator(
        "HashingVectorizer(2^14) + SGD", hashing_sgd(2**14), kinds=("text",), text_pipeline=True
    ),
    FastText(),
]

# Every family of the registry by name, in its order: what the report
# places by their fields.
FAMILIES = {family.name: family for system in SYSTEMS for family in system.families}
