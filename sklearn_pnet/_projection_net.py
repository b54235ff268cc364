"""ProjectionNet: a compact student on hashed bits, trained with a teacher."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _hashing, _inference
from ._base import BaseNetClassifier, is_fitted_teacher, layer_sizes, to_numpy
from ._inference import forward, softmax
from ._linear_path import LinearPath
from ._lsh_projector import MAX_N_BITS, LSHProjector, auto_density
from ._storage import bits_per_weight, store_bias, store_weights
from ._validation import IntInterval, validate_features

__all__ = ["ProjectionNetClassifier"]

# Bits each input feature touches, at least, in a trained projection with
# density="auto": a trained projection makes good use of more connections
# (benchmarks/VALIDATION.md, "density").
TRAINED_MIN_SLOTS = 32

# Bytes the weights of a trained projection fill with n_weights="auto": with
# the student's layer, the thresholds and pickle's framing, the design card
# (n_bits=256, 20 classes) dumps in just under 64 KiB. Bytes put into more
# shared weights are what text needs most (benchmarks/VALIDATION.md,
# "Accuracy per byte on 20 Newsgroups").
AUTO_PROJECTION_BYTES = 57 * 1024

# weight_clusters="auto" stores a trained projection's weights as 3-bit codes
# of AUTO_CLUSTERS k-means values where the projection has more than
# AUTO_CLUSTERS_SHARING entries per int8 weight the budget holds (wide text:
# 20 Newsgroups' 130,000 words x 32 bits), and as int8 where it has fewer
# (short texts, images), which lose more to 3 bits than they gain from
# the 2.7x more weights (benchmarks/VALIDATION.md, "Accuracy per byte").
AUTO_CLUSTERS = 8
AUTO_CLUSTERS_SHARING = 8


def _check_loss_weights(loss_weights):
    try:
        weights = tuple(float(w) for w in loss_weights)
    except (TypeError, ValueError):
        weights = ()
    if (
        len(weights) != 3
        or not np.isfinite(weights).all()
        or min(weights) < 0
        or weights[1] + weights[2] == 0
    ):
        raise ValueError(
            "loss_weights must be three finite non-negative numbers (teacher-vs-label, "
            "student-vs-teacher, student-vs-label) and at least one of the last "
            f"two must be positive for the student to learn; got {loss_weights!r}."
        )
    return weights


# The paper's loss weights, which loss_weights="auto" takes where a teacher is
# asked for.
PAPER_LOSS_WEIGHTS = (1.0, 0.1, 1.0)


def _has_teacher(estimator):
    return hasattr(estimator, "teacher_")


def fitted_teacher_logits(teacher, X, classes):
    """Logits of a fitted scikit-learn classifier on ``X``, one column per
    class of ``classes``, in that order (float32).

    ``decision_function`` where it has one (a binary score ``d`` becomes
    the logits ``(0, d)``), else the log of ``predict_proba``: softmax of
    either divided by the temperature gives the soft targets.
    """
    try:
        check_is_fitted(teacher)
    except NotFittedError as exc:
        raise ValueError(
            f"teacher={type(teacher).__name__}(...) must be fitted: pass a fitted "
            "classifier, wrapped in sklearn.frozen.FrozenEstimator to stay fitted "
            "through clone (GridSearchCV and cross_validate clone it)."
        ) from exc
    teacher_classes = np.asarray(teacher.classes_)
    missing = np.setdiff1d(classes, teacher_classes)
    if len(missing):
        raise ValueError(
            f"The teacher's classes {teacher_classes.tolist()!r} lack the labels "
            f"{missing.tolist()!r} of y: fit the teacher on data with every class."
        )
    columns = [np.flatnonzero(teacher_classes == c)[0] for c in classes]
    if hasattr(teacher, "decision_function"):
        scores = np.asarray(teacher.decision_function(X), dtype=np.float64)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
    else:
        scores = np.log(np.clip(teacher.predict_proba(X), 1e-12, None))
    return np.ascontiguousarray(scores[:, columns], dtype=np.float32)


class ProjectionNetClassifier(BaseNetClassifier):
    """Compact classifier on hashed bits, trained jointly with a full network.

    ProjectionNet (Ravi, 2017) trains two networks at once: a *teacher*, an
    MLP on the raw features, and a small *student* that only sees
    ``n_bits`` locality-sensitive-hashing bits of the input (see
    :class:`LSHProjector`). The joint loss is::

        w1 * CE(teacher, y) + w2 * CE(student, teacher) + w3 * CE(student, y)

    with ``(w1, w2, w3) = loss_weights``: the paper's ``(1.0, 0.1, 1.0)``
    trains both; by default (``"auto"``, without a ``teacher``) the student
    is trained alone, which our benchmarks found as accurate and 1.5-3x
    faster. After :term:`fit` only the student
    is kept: its weights are numpy arrays, :meth:`predict` needs no torch,
    and the projection is recomputed from a seed, so the pickled model
    weighs ``n_bits`` per class and hidden unit, not per input feature.

    Training needs PyTorch; prediction needs numpy and scipy only.

    Parameters
    ----------
    n_bits : int, default=256
        Number of LSH bits the student sees.

    hidden_layer_sizes : tuple of int, default=()
        Hidden layers of the student on top of the bits. The default, no
        hidden layer, is the paper's ``softmax(W_p . bits + b_p)``: the
        smallest model. A layer such as ``(256,)`` is worth its size on
        images (MNIST: see the README).

    teacher_hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layers of the default teacher MLP. Ignored when ``teacher``
        is given.

    teacher : callable or fitted classifier, default=None
        Factory of a custom teacher: ``teacher(n_features, n_classes)``
        returns a ``torch.nn.Module`` mapping a batch to logits of shape
        ``(batch, n_classes)``. A batch is a dense float32 tensor, or a
        ``torch.sparse_csr_tensor`` when ``X`` is sparse. Sub-modules whose
        ``sparse`` attribute is True (``nn.EmbeddingBag(sparse=True)``, for
        instance) are optimised with ``SparseAdam``, the rest with Adam.

        Or a *fitted* scikit-learn classifier or pipeline with
        ``decision_function`` or ``predict_proba`` (a tuned ``LinearSVC``, a
        gradient-boosting pipeline) taking the same ``X``: the student is
        distilled from it instead of a torch teacher. Its soft targets,
        ``softmax(decision_function(X) / temperature)`` (or the
        probabilities raised to ``1 / temperature`` and renormalised), are
        computed once per :meth:`fit` (per chunk in :meth:`partial_fit`),
        and the teacher-vs-label term of the loss is left out. Its
        ``classes_`` must include every label of ``y``. ``clone`` (and so
        ``GridSearchCV``) unfits an estimator parameter: wrap it in
        :class:`sklearn.frozen.FrozenEstimator`. It pickles with the model
        until :meth:`trim_for_prediction` drops it.

    projection : {"trained", "random"}, default="trained"
        "random" is the paper's fixed LSH projection. "trained" multiplies
        each of its ±1 entries by one of ``n_weights`` shared weights chosen
        by a hash (HashedNets applied to the projection) and trains those
        weights and the per-bit thresholds through the sign with a
        straight-through gradient: the student still sees only bits, but
        better ones. It is the default for its accuracy per byte, by far
        the better on text (README, "Choosing the projection"); "random"
        predicts faster on sparse input (one bit per feature, not 32).

    n_weights : int or "auto", default="auto"
        Number of trainable weights of a "trained" projection, shared
        through a hash when the projection has more entries than that
        (``n_features * bits per feature``), else one per entry (and then
        only that many are stored). "auto" is as many as 57 KiB hold at the
        stored width (155,648 as 3-bit codes, 58,368 as int8; see
        ``weight_clusters``), so that the design card's classifier dumps in
        under 64 KiB whatever the width of the input.

    density : float in (0, 1] or "auto", default="auto"
        Fraction of the bits each input feature contributes to; see
        :class:`LSHProjector`. "auto" is ``1 / sqrt(n_features)`` for the
        random projection, and at least ``32 / n_bits`` (32 bits per
        feature) for a trained one, which makes good use of more
        connections. More bits per feature cost fit and predict time, not
        bytes: their weights are drawn from the same ``n_weights``.
        Evidence: ``benchmarks/VALIDATION.md``, "Defaults" and "Accuracy
        per byte on 20 Newsgroups".

    center : bool, default=True
        Threshold each bit at the projection of the training mean; see
        :class:`LSHProjector`.

    linear_buckets : int, default=0
        Buckets of a linear path on the raw features beside the student (0:
        none). Each feature is folded with a hashed sign into one of
        ``linear_buckets`` buckets, weighted by the buckets' idf and
        L2-normalised per sample; a ``LinearSVC`` fitted on that gives each
        class a score, which prediction adds to the student's logits times
        ``linear_scale``. Its coefficients and idf are stored as 16-value
        k-means codes, LZMA-compressed: about 2 to 3 bits a coefficient,
        fewer the more buckets (20 Newsgroups: 2.4 bits at 20,000 buckets,
        1.8 at 40,000). On long texts under a tight byte budget the path
        is worth 2 to 4 points over the bits alone (20 Newsgroups, test
        split: 79.5% -> 83.6% within 128 KiB, 82.8% -> 85.3% within 256
        KiB; ``benchmarks/VALIDATION.md``, "The linear path" and
        "Entropy-coded path"). ``partial_fit`` cannot fit it.

    linear_scale : float, default=24.0
        Weight of the linear path's scores in the logits.

    loss_weights : tuple of 3 floats or "auto", default="auto"
        Weights of teacher-vs-label, student-vs-teacher (distillation) and
        student-vs-label cross-entropies. With the first two at 0 no
        teacher is trained at all. "auto" is ``(0, 0, 1)``, the student
        alone, unless ``teacher`` is given or ``keep_teacher=True``, and
        then the paper's ``(1.0, 0.1, 1.0)``: on every dataset of the
        benchmark the default teacher changed the student's validation
        accuracy by less than the spread between seeds, for 1.5-3x the fit
        time (``benchmarks/VALIDATION.md``, "Accuracy per byte").

    temperature : float, default=1.0
        Softmax temperature of the distillation term.

    max_iter : int, default=200
        Maximum number of epochs.

    batch_size : int or "auto", default="auto"
        Size of minibatches; "auto" is ``min(200, n_samples)``.

    learning_rate_init : float, default=0.001
        Adam's learning rate, for both networks.

    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the training data (stratified)
        and stop when the student's accuracy on it stops improving; the
        weights of the best epoch are kept. "auto" does so on more than
        10,000 training samples, where it cuts a fit from 200 epochs to
        20-30 at little cost, and trains smaller sets on all their samples
        (see ``benchmarks/VALIDATION.md``, "Stopping rule").

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` (in the
        validation accuracy with early stopping, else in the training loss)
        before training stops.

    tol : float, default=1e-4
        Minimum improvement that counts, see ``n_iter_no_change``.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the projection, the weight initialisation, the validation
        split and the shuffling. An int gives the same model on every fit
        on the same machine, and the same bits on every platform.

    verbose : bool, default=False
        Print one line of progress per epoch.

    warm_start : bool, default=False
        Reuse the fitted projection and student and continue training. The
        teacher resumes from ``teacher_`` when it was kept
        (``keep_teacher=True``); otherwise a fresh teacher is trained.

    weight_dtype : {"int8", "float16", "float32"}, default="int8"
        How the student's weights (and a trained projection's) are stored
        after training where ``weight_clusters`` leaves them unshared. int8
        stores one byte a weight plus a float32 scale per output unit (per
        256 weights for the projection); float16 two bytes a weight (and
        the biases in float16). Evidence that the bits forgive the
        rounding: ``benchmarks/VALIDATION.md``, "Defaults".

    weight_clusters : int, "auto" or None, default="auto"
        Weight sharing (Han et al., 2016; Marinò et al., 2020): after
        training, each layer's weights are replaced by the nearest of this
        many k-means centroids, the centroids are fine-tuned for up to
        ``max(1, max_iter // 40)`` more epochs with the weights of a cluster
        tied (in :meth:`fit`; :meth:`partial_fit` stores the k-means values
        of the weights as they are after each call), and each weight is
        stored as a packed ``ceil(log2(k))``-bit code (centroids in
        float32), whatever ``weight_dtype``. None stores
        every weight as ``weight_dtype``. "auto" is 8 (3-bit codes) where a
        trained projection has more than 8 entries per weight that
        ``n_weights="auto"`` would give it as int8 (wide text, such as
        20 Newsgroups' 130,000 words), else None: there more weights buy
        more accuracy than finer ones, elsewhere the reverse
        (``benchmarks/VALIDATION.md``, "Accuracy per byte").

    sparsity : float in [0, 1), default=0.0
        Magnitude pruning: after training, this fraction of the smallest
        weights of each student layer is set to zero, the rest fine-tuned
        for ``max(1, max_iter // 10)`` more epochs, and the layer stored as
        a compressed sparse matrix.

    device : str, default="cpu"
        Torch device that trains the networks, e.g. "cuda". Prediction
        always runs on the CPU with numpy.

    keep_teacher : bool, default=False
        Keep the trained teacher as ``teacher_`` (a torch module, which
        makes the pickle large and needs torch to load).

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in every term of the loss, ``{label:
        weight}``; "balanced" weighs each class by ``n_samples /
        (n_classes * count)``. Multiplied with ``sample_weight``, as in
        scikit-learn's linear models. :meth:`partial_fit` takes a dict only.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.

    projector_ : LSHProjector
        The fitted projection from features to bits.

    linear_path_ : object or None
        The fitted linear path (``linear_buckets > 0``), or None.

    coefs_ : list of arrays
        Student weights; ``coefs_[i]`` has shape ``(n_in, n_out)``. Each is
        a numpy array, or a compact form (int8, k-means, pruned) that
        ``np.asarray`` decodes.

    intercepts_ : list of ndarray
        Student biases.

    loss_curve_ : ndarray of shape (n_iter_,)
        Joint training loss at each epoch (float32).

    validation_scores_ : ndarray of shape (n_iter_,) or None
        Student accuracy on the held-out data at each epoch, when the fit
        stopped early (see ``early_stopping``); else None.

    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    n_iter_ : int
        Number of epochs run (one per :meth:`partial_fit` call).

    t_ : int
        Number of training samples seen by the optimiser.

    teacher_ : torch.nn.Module
        The trained teacher, only with ``keep_teacher=True``.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    LSHProjector : The projection from features to bits.
    sklearn.neural_network.MLPClassifier : A full MLP, the teacher's kind.

    References
    ----------
    .. [1] S. Ravi, "ProjectionNet: Learning Efficient On-Device Deep
       Networks Using Neural Projections", arXiv:1708.00630, 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_pnet import ProjectionNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = ProjectionNetClassifier(
    ...     n_bits=64, teacher_hidden_layer_sizes=(32,), max_iter=15, random_state=0
    ... )
    >>> clf = clf.fit(X_train, y_train)
    >>> clf.score(X_test, y_test) > 0.85
    True
    >>> clf.predict(X_test[:3]), clf.predict_proba(X_test[:3]).shape
    (array([2, 8, 2]), (3, 10))
    """

    _parameter_constraints: dict = {
        **BaseNetClassifier._parameter_constraints,
        "n_bits": [IntInterval(1, MAX_N_BITS, closed="both")],
        "hidden_layer_sizes": ["array-like", IntInterval(1, None, closed="left")],
        "teacher_hidden_layer_sizes": ["array-like", IntInterval(1, None, closed="left")],
        "teacher": [
            callable,
            HasMethods(["predict_proba"]),
            HasMethods(["decision_function"]),
            None,
        ],
        "projection": [StrOptions({"random", "trained"})],
        "n_weights": [IntInterval(1, None, closed="left"), StrOptions({"auto"})],
        "weight_clusters": [IntInterval(2, 256, closed="both"), StrOptions({"auto"}), None],
        "density": [Interval(Real, 0.0, 1.0, closed="right"), StrOptions({"auto"})],
        "center": ["boolean"],
        "linear_buckets": [IntInterval(0, None, closed="left")],
        "linear_scale": [Interval(Real, 0, None, closed="left")],
        "loss_weights": ["array-like", StrOptions({"auto"})],
        "temperature": [Interval(Real, 0.0, None, closed="neither")],
        "sparsity": [Interval(Real, 0.0, 1.0, closed="left")],
        "keep_teacher": ["boolean"],
    }

    def __init__(
        self,
        n_bits=256,
        *,
        hidden_layer_sizes=(),
        teacher_hidden_layer_sizes=(256,),
        teacher=None,
        projection="trained",
        n_weights="auto",
        density="auto",
        center=True,
        linear_buckets=0,
        linear_scale=24.0,
        loss_weights="auto",
        temperature=1.0,
        max_iter=200,
        batch_size="auto",
        learning_rate_init=0.001,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        weight_dtype="int8",
        weight_clusters="auto",
        sparsity=0.0,
        device="cpu",
        keep_teacher=False,
        class_weight=None,
    ):
        self.n_bits = n_bits
        self.hidden_layer_sizes = hidden_layer_sizes
        self.teacher_hidden_layer_sizes = teacher_hidden_layer_sizes
        self.teacher = teacher
        self.projection = projection
        self.n_weights = n_weights
        self.density = density
        self.center = center
        self.linear_buckets = linear_buckets
        self.linear_scale = linear_scale
        self.loss_weights = loss_weights
        self.temperature = temperature
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.weight_dtype = weight_dtype
        self.weight_clusters = weight_clusters
        self.sparsity = sparsity
        self.device = device
        self.keep_teacher = keep_teacher
        self.class_weight = class_weight

    def _loss_weights(self):
        """``loss_weights`` checked, with "auto" resolved: the student alone,
        unless a teacher is given or kept, then the paper's weights."""
        if isinstance(self.loss_weights, str) and self.loss_weights == "auto":
            if self.teacher is None and not self.keep_teacher:
                return (0.0, 0.0, 1.0)
            return PAPER_LOSS_WEIGHTS
        return _check_loss_weights(self.loss_weights)

    def _check_parameters(self):
        super()._check_parameters()
        self._loss_weights()
        layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        if self.teacher is None:
            # Checked even where no teacher is trained (loss_weights="auto"):
            # a typo must not wait for the day the teacher is switched on.
            layer_sizes(self.teacher_hidden_layer_sizes, "teacher_hidden_layer_sizes")

    def _prepare(self, X, y, sample_weight, rng, warm, classes):
        """The projector (new, or the fitted one when warm), the linear path
        (fitted afresh, or None) and the data: precomputed bits for a random
        projection, raw rows for a trained one, which the student projects
        itself at every batch."""
        from ._training import TrainingData

        self._loss_weights()
        layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        trained = self.projection == "trained"
        if warm:
            projector = self.projector_
            if self.n_bits != projector.n_bits or trained != (projector.weights_ is not None):
                raise ValueError(
                    "warm_start needs the same n_bits and projection as the fitted "
                    f"model (n_bits={projector.n_bits}); set warm_start=False "
                    "to train a new model."
                )
            bits = None if trained else projector.transform(X)
        else:
            projector = LSHProjector(
                self.n_bits,
                density=self._density(X.shape[1]),
                center=self.center,
                random_state=int(rng.randint(_hashing.MAX_SEED, dtype=np.int64)),
            )
            if trained:
                bits = None
                projector.fit(X, sample_weight=sample_weight)
            else:
                bits = projector.fit_transform(X, sample_weight=sample_weight)
        data = TrainingData(X, bits, y, sample_weight)
        if is_fitted_teacher(self.teacher) and self._loss_weights()[1]:
            data.teacher_logits = fitted_teacher_logits(self.teacher, X, classes)
        linear_path = None
        if self.linear_buckets:
            # Its own stream of the projector's seed: no draw from rng, so
            # the rest of the fit is the one without a path.
            linear_path = LinearPath.fit(X, y, sample_weight, projector.seed_, self.linear_buckets)
        return data, {"projector_": projector, "linear_path_": linear_path}

    def _check_partial_fit(self):
        # As MLPClassifier does for lbfgs: an AttributeError makes
        # hasattr(est, "partial_fit") false, which scikit-learn's tools check.
        if self.linear_buckets:
            raise AttributeError(
                "partial_fit is not available with a linear path (linear_buckets > 0: "
                "liblinear fits it on all the data at once); set linear_buckets=0, or "
                "train with fit."
            )
        return True

    @available_if(_check_partial_fit)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    partial_fit.__doc__ = BaseNetClassifier.partial_fit.__doc__

    def _partial_fit(self, X, y, classes, sample_weight):
        if self.sparsity > 0:
            raise ValueError(
                "partial_fit does not prune (sparsity > 0 prunes once, after the "
                "whole training of fit); set sparsity=0.0, or train with fit."
            )
        super()._partial_fit(X, y, classes, sample_weight)

    def _density(self, n_features):
        """``density``, with "auto" resolved: a trained projection gets at
        least :data:`TRAINED_MIN_SLOTS` bits per feature."""
        if self.density != "auto" or self.projection == "random":
            return self.density
        return auto_density(n_features, self.n_bits, TRAINED_MIN_SLOTS)

    def _projection_entries(self, projector):
        """Entries of the trained projection on ``projector``'s hash; None
        for a random projection."""
        if self.projection != "trained":
            return None
        return _hashing.projection_entries(
            projector.n_features_in_, projector.n_bits, projector.n_slots_
        )

    def _weight_clusters(self, n_entries):
        """``weight_clusters``, with "auto" resolved for a trained projection
        of ``n_entries`` entries (None for a random one)."""
        if self.weight_clusters != "auto":
            return self.weight_clusters
        if n_entries is None or n_entries <= AUTO_CLUSTERS_SHARING * AUTO_PROJECTION_BYTES:
            return None
        return AUTO_CLUSTERS

    def _n_weights(self, n_entries):
        """``n_weights``, with "auto" resolved: as many as
        :data:`AUTO_PROJECTION_BYTES` hold at the stored width."""
        if self.n_weights != "auto":
            return self.n_weights
        width = bits_per_weight(self.weight_dtype, self._weight_clusters(n_entries))
        return AUTO_PROJECTION_BYTES * 8 // width

    def _networks(self, X, prepared, warm, n_classes):
        """The teacher (None if no loss term needs it) and the student, new
        or, with ``warm``, restored from the fitted attributes."""
        from ._torch_pnet import (
            HashedProjection,
            Student,
            load_student_weights,
            mlp,
            teacher_mlp,
        )

        projector = prepared["projector_"]
        hidden = layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        projection = None
        if self.projection == "trained":
            projection = HashedProjection(
                projector.seed_,
                projector.n_features_in_,
                projector.n_bits,
                projector.n_slots_,
                self._n_weights(self._projection_entries(projector)),
                projector.threshold_,
            )
            if warm:
                projection.load_numpy(projector.weights_, projector.threshold_)
            if sp.issparse(X):
                projection.cache_structure(np.unique(X.indices))
        student = Student(mlp(self.n_bits, hidden, n_classes), projection)
        if warm:
            load_student_weights(student.mlp, self.coefs_, self.intercepts_)
        loss_weights = self._loss_weights()
        teacher = None
        if is_fitted_teacher(self.teacher):
            pass  # its logits come with the data (TrainingData.teacher_logits)
        elif loss_weights[0] or loss_weights[1]:
            if warm and hasattr(self, "teacher_"):
                teacher = self.teacher_
            elif self.teacher is not None:
                teacher = self.teacher(X.shape[1], n_classes)
            else:
                teacher_hidden = layer_sizes(
                    self.teacher_hidden_layer_sizes, "teacher_hidden_layer_sizes"
                )
                teacher = teacher_mlp(
                    X.shape[1], teacher_hidden, n_classes, sparse_input=sp.issparse(X)
                )
        return teacher, student

    def _loss(self):
        from ._training import JointLoss

        loss_weights = self._loss_weights()
        if is_fitted_teacher(self.teacher):
            # A fitted teacher does not learn: no teacher-vs-label term.
            loss_weights = (0.0, *loss_weights[1:])
        return JointLoss(loss_weights, self.temperature)

    def _post_training(self, trainer, train, validation, history):
        """Magnitude pruning, then fine-tuning for ``max(1, max_iter // 10)``
        epochs; weight sharing, then fine-tuning of the centroids for
        ``max(1, max_iter // 40)`` epochs (the stopping rule starts afresh
        each time). Five epochs of the latter recovered as much as twenty
        (``benchmarks/VALIDATION.md``, "Accuracy per byte")."""
        if self.sparsity > 0:
            trainer.prune(self.sparsity)
            history = trainer.fit(
                train, validation, history, max_iter=max(1, self.max_iter // 10), warn=False
            )
        projection = trainer.student.projection
        n_entries = None
        if projection is not None:
            n_entries = _hashing.projection_entries(
                projection.n_features, projection.n_bits, projection.n_slots
            )
        weight_clusters = self._weight_clusters(n_entries)
        if weight_clusters is not None:
            from ._torch_pnet import stored_weights

            trainer.share_weights(stored_weights(trainer.student), weight_clusters)
            history = trainer.fit(
                train, validation, history, max_iter=max(1, self.max_iter // 40), warn=False
            )
        return history

    def _fitted_weights(self, teacher, student, prepared):
        from ._torch_pnet import student_weights

        coefs, intercepts = student_weights(student.mlp)
        weight_clusters = self._weight_clusters(self._projection_entries(prepared["projector_"]))
        fitted = {
            "coefs_": [
                self._store(coef, weight_clusters, pruned=self.sparsity > 0) for coef in coefs
            ],
            "intercepts_": [store_bias(b, self.weight_dtype) for b in intercepts],
        }
        if self.projection == "trained":
            prepared["projector_"]._use_trained_weights(
                self._store(to_numpy(student.projection.weight), weight_clusters),
                to_numpy(student.projection.threshold),
            )
        if self.keep_teacher and teacher is not None:
            fitted["teacher_"] = teacher.cpu().eval()
        return fitted

    def _store(self, values, weight_clusters, pruned=False):
        return store_weights(values, self.weight_dtype, weight_clusters, pruned)

    def _kernels_split_rows(self, X):
        # A linear student on sparse input: the bits and the student are one
        # compiled pass, the linear path's scores another, and no BLAS
        # product between them (whose threads spin after each call).
        return (
            sp.issparse(X)
            and len(self.coefs_) == 1
            and self.projector_.n_slots_ is not None
            and _inference.project_csr_product is not None
        )

    def _logits(self, X):
        # X is validated already: validating it again cost a quarter of a
        # one-row prediction.
        # Sparse input: the bits and the first layer in one compiled pass,
        # without the n_rows x n_bits arrays between them.
        first = self.projector_._bits_product(X, self.coefs_[0])
        if first is None:
            logits = forward(self.projector_._bits(X), self.coefs_, self.intercepts_)
        else:
            logits = forward(None, self.coefs_, self.intercepts_, first=first)
        # Models fitted before the linear path have no linear_path_.
        linear_path = getattr(self, "linear_path_", None)
        if linear_path is not None:
            logits += self.linear_scale * linear_path.scores(X, len(self.classes_))
        return logits

    @available_if(_has_teacher)
    def teacher_predict_proba(self, X):
        """Class probabilities from the kept teacher (needs torch).

        Only available when a teacher is kept (``keep_teacher=True``, until
        :meth:`trim_for_prediction`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        import torch

        from ._torch_common import to_tensor

        check_is_fitted(self, "teacher_")
        X = validate_features(self, X, reset=False)
        with torch.no_grad():
            logits = self.teacher_(to_tensor(X, "cpu")).double().numpy()
        return softmax(logits)

    @available_if(_has_teacher)
    def teacher_predict(self, X):
        """Predict with the kept teacher (needs torch).

        Only available when a teacher is kept (``keep_teacher=True``, until
        :meth:`trim_for_prediction`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        return self.classes_[self.teacher_predict_proba(X).argmax(axis=1)]
