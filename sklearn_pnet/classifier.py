"""ProjectionNet: a compact student on hashed bits, trained with a teacher."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _compact, _hashing
from ._base import BaseNetClassifier, layer_sizes, to_numpy
from ._validation import validate_features
from .projection import LSHProjector

__all__ = ["ProjectionNetClassifier"]


def _check_loss_weights(loss_weights):
    weights = tuple(float(w) for w in loss_weights)
    if len(weights) != 3 or min(weights) < 0 or weights[1] + weights[2] == 0:
        raise ValueError(
            "loss_weights must be three non-negative numbers (teacher-vs-label, "
            "student-vs-teacher, student-vs-label) and at least one of the last "
            f"two must be positive for the student to learn; got {loss_weights!r}."
        )
    return weights


def _teacher_is_kept(estimator):
    return estimator.keep_teacher


class ProjectionNetClassifier(BaseNetClassifier):
    """Compact classifier on hashed bits, trained jointly with a full network.

    ProjectionNet (Ravi, 2017) trains two networks at once: a *teacher*, an
    MLP on the raw features, and a small *student* that only sees
    ``n_bits`` locality-sensitive-hashing bits of the input (see
    :class:`LSHProjector`). The joint loss is::

        w1 * CE(teacher, y) + w2 * CE(student, teacher) + w3 * CE(student, y)

    with ``(w1, w2, w3) = loss_weights``. After :term:`fit` only the student
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

    teacher : callable, default=None
        Factory of a custom teacher: ``teacher(n_features, n_classes)``
        returns a ``torch.nn.Module`` mapping a batch to logits of shape
        ``(batch, n_classes)``. A batch is a dense float32 tensor, or a
        ``torch.sparse_csr_tensor`` when ``X`` is sparse. Sub-modules whose
        ``sparse`` attribute is True (``nn.EmbeddingBag(sparse=True)``, for
        instance) are optimised with ``SparseAdam``, the rest with Adam.

    projection : {"trained", "random"}, default="trained"
        "random" is the paper's fixed LSH projection. "trained" multiplies
        each of its ±1 entries by one of ``n_weights`` shared weights chosen
        by a hash (HashedNets applied to the projection) and trains those
        weights and the per-bit thresholds through the sign with a
        straight-through gradient: the student still sees only bits, but
        better ones. It is the default for its accuracy per byte, by far
        the better on text (README, "Choosing the projection"); "random"
        predicts faster on sparse input (one bit per feature, not 16).

    n_weights : int, default=32768
        Number of trainable weights of a "trained" projection, shared
        through a hash when the projection has more entries than that
        (``n_features * bits per feature``), else one per entry (and then
        only that many are stored).

    density : float in (0, 1] or "auto", default="auto"
        Fraction of the bits each input feature contributes to; see
        :class:`LSHProjector`. "auto" is ``1 / sqrt(n_features)`` for the
        random projection, and at least ``16 / n_bits`` for a trained one,
        which makes good use of more connections. More slots cost fit and
        predict time, not bytes (their weights are drawn from the same
        ``n_weights``): on 20 Newsgroups at 1,024 bits, 128 slots per word
        (``density=0.125``) scored 2.5 points above 16 on a validation
        split (``benchmarks/VALIDATION.md``), and predicted from raw text
        at 0.58 times the speed (``benchmarks/pipeline_speed.py``).

    center : bool, default=True
        Threshold each bit at the projection of the training mean; see
        :class:`LSHProjector`.

    loss_weights : tuple of 3 floats, default=(1.0, 0.1, 1.0)
        Weights of teacher-vs-label, student-vs-teacher (distillation) and
        student-vs-label cross-entropies, the paper's defaults. With the
        first two at 0 no teacher is trained at all.

    temperature : float, default=1.0
        Softmax temperature of the distillation term.

    max_iter : int, default=200
        Maximum number of epochs.

    batch_size : int or "auto", default="auto"
        Size of minibatches; "auto" is ``min(200, n_samples)``.

    learning_rate_init : float, default=0.001
        Adam's learning rate, for both networks.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified)
        and stop when the student's accuracy on it stops improving; the
        weights of the best epoch are kept.

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
        after training. int8 stores one byte a weight plus a float32 scale
        per output unit (per 256 weights for the projection); the bits
        forgive the rounding: on a 4-topic 20 Newsgroups validation split,
        one fitted model scored 93.9% with float32 weights, 93.9% re-encoded
        in float16, 94.4% in int8, 94.1% with 16 k-means values a layer
        and 92.9% with 4 (``benchmarks/VALIDATION.md``).

    weight_clusters : int, default=None
        Weight sharing (Han et al., 2016; Marinò et al., 2020): each layer's
        weights are replaced by the nearest of this many k-means centroids
        and stored as packed ``ceil(log2(k))``-bit codes. Overrides
        ``weight_dtype`` for the weights (centroids are float32).

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

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.

    projector_ : LSHProjector
        The fitted projection from features to bits.

    coefs_ : list of arrays
        Student weights; ``coefs_[i]`` has shape ``(n_in, n_out)``. Each is
        a numpy array, or a compact form (int8, k-means, pruned) that
        ``np.asarray`` decodes.

    intercepts_ : list of ndarray
        Student biases.

    loss_curve_ : ndarray of shape (n_iter_,)
        Joint training loss at each epoch (float32).

    validation_scores_ : ndarray of shape (n_iter_,) or None
        Student accuracy on the held-out data at each epoch, with
        ``early_stopping``; else None.

    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    n_iter_ : int
        Number of epochs run.

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
    >>> clf = ProjectionNetClassifier(n_bits=128, max_iter=30, random_state=0)
    >>> clf = clf.fit(X_train, y_train)  # doctest: +SKIP
    >>> clf.score(X_test, y_test) > 0.85  # doctest: +SKIP
    True
    """

    _parameter_constraints: dict = {
        **BaseNetClassifier._parameter_constraints,
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "teacher_hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "teacher": [callable, None],
        "projection": [StrOptions({"random", "trained"})],
        "n_weights": [Interval(Integral, 1, None, closed="left")],
        "density": [Interval(Real, 0.0, 1.0, closed="right"), StrOptions({"auto"})],
        "center": ["boolean"],
        "loss_weights": ["array-like"],
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
        n_weights=32768,
        density="auto",
        center=True,
        loss_weights=(1.0, 0.1, 1.0),
        temperature=1.0,
        max_iter=200,
        batch_size="auto",
        learning_rate_init=0.001,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        weight_dtype="int8",
        weight_clusters=None,
        sparsity=0.0,
        device="cpu",
        keep_teacher=False,
    ):
        self.n_bits = n_bits
        self.hidden_layer_sizes = hidden_layer_sizes
        self.teacher_hidden_layer_sizes = teacher_hidden_layer_sizes
        self.teacher = teacher
        self.projection = projection
        self.n_weights = n_weights
        self.density = density
        self.center = center
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the teacher and the student jointly.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input stays sparse: the teacher's first
            layer multiplies CSR batches directly.

        y : array-like of shape (n_samples,)
            Target labels, of any type :func:`numpy.unique` can sort.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in every term of the loss. Samples of
            weight 0 are left out.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "coefs_")
        X, y, sample_weight = self._check_training_data(X, y, sample_weight, warm)
        loss_weights = _check_loss_weights(self.loss_weights)
        hidden = layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        rng = check_random_state(self.random_state)
        if not warm:
            self.projector_ = LSHProjector(
                self.n_bits,
                density=self._density(X.shape[1]),
                center=self.center,
                random_state=int(rng.randint(_hashing.MAX_SEED, dtype=np.int64)),
            )
            self.projector_.fit(X, sample_weight=sample_weight)
        elif self.n_bits != self.projector_.n_bits or (self.projection == "trained") != (
            self.projector_.weights_ is not None
        ):
            raise ValueError(
                "warm_start needs the same n_bits and projection as the fitted "
                f"model (n_bits={self.projector_.n_bits}); set warm_start=False "
                "to train a new model."
            )

        # Torch-backed modules are imported here: predicting never needs them.
        from ._networks import student_weights
        from ._training import TrainingData

        trained_projection = self.projection == "trained"
        # A random projection is computed once; a trained one every batch.
        bits = None if trained_projection else self.projector_.transform(X)
        teacher, student = self._train(
            TrainingData(X, bits, y, sample_weight),
            lambda: self._networks(X, hidden, loss_weights, warm),
            rng,
            warm,
            loss_weights=loss_weights,
            temperature=self.temperature,
            sparsity=self.sparsity,
        )
        coefs, intercepts = student_weights(student.mlp)
        self.coefs_ = [self._store(coef, pruned=self.sparsity > 0) for coef in coefs]
        self.intercepts_ = [self._store_bias(intercept) for intercept in intercepts]
        if trained_projection:
            self.projector_.weights_ = self._store(to_numpy(student.projection.weight))
            self.projector_.threshold_ = to_numpy(student.projection.threshold)
        if self.keep_teacher and teacher is not None:
            self.teacher_ = teacher.cpu().eval()
        elif hasattr(self, "teacher_"):
            del self.teacher_
        return self

    def _density(self, n_features):
        """``density``, with "auto" resolved for a trained projection.

        A random projection of sparse text is best with each feature in one
        bit, as "auto" (``1 / sqrt(n_features)``) gives; a trained one gains
        from more slots, at a cost proportional to the slots, so it gets at
        least 16. 4-topic 20 Newsgroups, 256 bits, validation accuracy with
        1, 4, 16 and 64 slots: 87.0%, 90.4%, 94.4%, 94.4%
        (``benchmarks/VALIDATION.md``).
        """
        if self.density != "auto" or self.projection == "random":
            return self.density
        return float(min(1.0, max(1.0 / np.sqrt(n_features), 16 / self.n_bits)))

    def _networks(self, X, hidden, loss_weights, warm):
        """The teacher (None if no loss term needs it) and the student, new
        or, with ``warm``, restored from the fitted attributes."""
        from ._networks import (
            HashedProjection,
            Student,
            load_student_weights,
            mlp,
            teacher_mlp,
        )

        n_classes = len(self.classes_)
        projection = None
        if self.projection == "trained":
            projector = self.projector_
            projection = HashedProjection(
                projector.seed_,
                projector.n_features_in_,
                projector.n_bits,
                projector.n_slots_,
                self.n_weights,
                projector.threshold_,
            )
            if warm:
                projection.load_numpy(projector.weights_, projector.threshold_)
        student = Student(mlp(self.n_bits, hidden, n_classes), projection)
        if warm:
            load_student_weights(student.mlp, self.coefs_, self.intercepts_)
        teacher = None
        if loss_weights[0] or loss_weights[1]:
            if warm and hasattr(self, "teacher_"):
                teacher = self.teacher_
            elif self.teacher is not None:
                teacher = self.teacher(self.n_features_in_, n_classes)
            else:
                teacher_hidden = layer_sizes(
                    self.teacher_hidden_layer_sizes, "teacher_hidden_layer_sizes"
                )
                teacher = teacher_mlp(
                    self.n_features_in_, teacher_hidden, n_classes, sparse_input=sp.issparse(X)
                )
        return teacher, student

    def _logits(self, X):
        bits = self.projector_.transform(X)
        return _compact.forward(bits, self.coefs_, self.intercepts_)

    @available_if(_teacher_is_kept)
    def teacher_predict_proba(self, X):
        """Class probabilities from the kept teacher (needs torch).

        Only available with ``keep_teacher=True``.

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

        from ._networks import to_tensor

        check_is_fitted(self, "teacher_")
        X = validate_features(self, X, reset=False)
        with torch.no_grad():
            logits = self.teacher_(to_tensor(X, "cpu")).double().numpy()
        return _compact.softmax(logits)

    @available_if(_teacher_is_kept)
    def teacher_predict(self, X):
        """Predict with the kept teacher (needs torch).

        Only available with ``keep_teacher=True``.

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
