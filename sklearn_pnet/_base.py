"""What the package's classifiers share: ``fit`` (input checks, label
encoding, the training run, the fitted attributes), and numpy-only
prediction from the logits a subclass computes."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._inference import fit_threads, rows_in_threads, softmax
from ._model_format import ModelFormatMixin
from ._validation import (
    IntInterval,
    check_labels,
    numpy_inputs,
    restored_on_failure,
    validate_features,
)

TORCH_EXTRA = "sklearn-pnet[torch]"

# early_stopping="auto" holds out a validation split above this many
# samples, as HistGradientBoostingClassifier's "auto" does. Measured on
# validation splits (benchmarks/VALIDATION.md, "Stopping rule"): on 20
# Newsgroups and MNIST the accuracy is flat after 10 to 20 epochs, and
# early stopping cuts a fit from 200 epochs to 20-30 at a few tenths of a
# point; on 1,000-5,000 samples a tenth held out is a noisy judge that
# stops too soon and costs up to 6 points, so those train on everything
# and stop on the training loss.
EARLY_STOPPING_MIN_SAMPLES = 10_000


def require_torch():
    """Import torch for training, or say how to install it.

    Torch is imported inside ``fit`` only: a fitted model loads and
    predicts with numpy, scipy and scikit-learn alone.
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "Training needs PyTorch, which cannot be imported here "
            f"({exc}). Install the extra: pip install '{TORCH_EXTRA}' (on a "
            "CPU-only machine, install the CPU build of torch first). "
            "Prediction with a fitted model does not need it."
        ) from exc
    return torch


def layer_sizes(sizes, name):
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one layer)."""
    sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must hold positive integers, got {sizes!r}.")
    return sizes


def check_validation_split(y, validation_fraction):
    """Check that early stopping's stratified split of the class indices
    ``y`` leaves every class on both sides.

    ``train_test_split`` would otherwise fail with a message about
    ``test_size`` and the number of classes, which names neither
    ``early_stopping`` nor ``validation_fraction``.
    """
    counts = np.bincount(y)
    n_samples, n_classes = len(y), len(counts)
    n_validation = int(np.ceil(validation_fraction * n_samples))
    n_train = n_samples - n_validation
    if counts.min() < 2 or min(n_validation, n_train) < n_classes:
        raise ValueError(
            f"early_stopping holds out validation_fraction={validation_fraction} of "
            f"the {n_samples} samples ({n_validation} for validation, {n_train} for "
            f"training), stratified by class, but each side needs a sample of every "
            f"one of the {n_classes} classes (the smallest class has {counts.min()} "
            "samples). Use more samples, a validation_fraction that leaves both sides "
            "enough, or early_stopping=False."
        )


def _is_weight(value):
    """Whether ``value`` is an array of weights, in any stored form."""
    return value is not None and hasattr(value, "__array__") and hasattr(value, "shape")


def is_fitted_teacher(teacher):
    """Whether ``teacher=`` is a scikit-learn classifier (fitted: checked
    when used) rather than a factory of a torch module."""
    return hasattr(teacher, "predict_proba") or hasattr(teacher, "decision_function")


def _check_weights(sample_weight, X):
    return _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)


def _drop_weightless(X, y, sample_weight):
    """The samples of positive weight: those of weight 0 would still shape
    mini-batches."""
    if (sample_weight == 0).any():
        kept = sample_weight > 0
        X, y, sample_weight = X[kept], y[kept], sample_weight[kept]
    return X, y, sample_weight


def to_numpy(parameter):
    """A torch parameter as a float32 numpy array."""
    return parameter.detach().cpu().numpy().astype(np.float32)


class BaseNetClassifier(ModelFormatMixin, ClassifierMixin, BaseEstimator):
    """Base class of the classifiers; not for direct use.

    :meth:`fit` is written here once. A subclass supplies its part through
    four methods:

    - ``_prepare(X, y, sample_weight, rng, warm, classes)``: the training data
      (:class:`~sklearn_pnet._training.TrainingData`) and a dict of the
      fitted attributes that do not come from training (hash seeds, the
      projector);
    - ``_networks(X, prepared, warm)``: the torch teacher (or None) and
      student, new or, with ``warm``, restored from the fitted attributes;
    - ``_loss()``: the loss of a batch, see :class:`~sklearn_pnet.
      _training.Trainer`;
    - ``_fitted_weights(teacher, student, prepared)``: the fitted
      attributes that training produced, in their compact numpy forms.

    and ``_logits(X)`` for prediction. ``_post_training(trainer, train,
    validation, history)`` may add a phase after the main run (pruning).
    The fitted attributes are set together at the end: a fit that fails
    leaves the estimator as it was.
    """

    _parameter_constraints: dict = {
        "max_iter": [IntInterval(1, None, closed="left")],
        "batch_size": [IntInterval(1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate_init": [Interval(Real, 0.0, None, closed="neither")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "n_iter_no_change": [IntInterval(1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "weight_dtype": [StrOptions({"float32", "float16", "int8"})],
        "weight_clusters": [IntInterval(2, 256, closed="both"), None],
        "device": [str],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network(s) on ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input stays sparse: batches are CSR.

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
        require_torch()
        # An interrupt (Ctrl-C) during training does not get here: the
        # Trainer stops at the end of the batch and the fit completes.
        with restored_on_failure(self), fit_threads():
            self._fit(X, y, sample_weight)
        return self

    def _fit(self, X, y, sample_weight):
        # Every setting first: a fit that cannot train must fail before it
        # has touched the data, let alone the fitted attributes.
        self._check_parameters()
        warm = self.warm_start and hasattr(self, "intercepts_")
        X, y, sample_weight, classes = self._check_training_data(X, y, sample_weight, warm)
        if self._early_stopping(len(y)):
            check_validation_split(y, self.validation_fraction)
        rng = check_random_state(self.random_state)
        data, prepared = self._prepare(X, y, sample_weight, rng, warm, classes)
        teacher, student, history = self._train(
            data, lambda: self._networks(X, prepared, warm, len(classes)), rng, warm
        )
        fitted = {"classes_": classes, **prepared}
        weights = self._fitted_weights(teacher, student, prepared)
        self._check_finite_weights({**prepared, **weights})
        fitted.update(weights)
        fitted.update(self._history_attributes(history))
        # A kept teacher is the one this fit trained (in ``fitted``), or none.
        vars(self).pop("teacher_", None)
        # Torch state kept by partial_fit belongs to the model this replaces.
        vars(self).pop("_partial_state", None)
        vars(self).update(fitted)

    def _check_parameters(self):
        """Check what ``_parameter_constraints`` cannot: the device, and in
        subclasses the contents of tuples. Raises ``ValueError``."""
        from ._torch_common import training_device

        training_device(self.device)

    def _check_training_data(self, X, y, sample_weight, warm):
        """Validated ``X``, class indices of ``y``, sample weights (the
        samples of weight 0 left out: they would still shape mini-batches)
        and the classes."""
        check_labels(y)
        X, y = validate_features(self, X, y, reset=not warm)
        check_classification_targets(y)
        with numpy_inputs():
            sample_weight = _check_weights(sample_weight, X)
        X, y, sample_weight = _drop_weightless(X, y, sample_weight)
        classes = self._classes(y, warm)
        sample_weight = self._class_weighted(sample_weight, y, classes)
        y = np.searchsorted(classes, y).astype(np.int64)
        return X, y, sample_weight, classes

    def _class_weighted(self, sample_weight, y, classes):
        """``sample_weight`` times the weight of each sample's class
        (``class_weight``), as scikit-learn's linear models combine them."""
        if self.class_weight is None:
            return sample_weight
        weights = compute_class_weight(self.class_weight, classes=classes, y=y)
        return sample_weight * weights[np.searchsorted(classes, y)].astype(np.float32)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch over the chunk ``X``, ``y``.

        The first call (on an estimator that is not fitted) sets up what
        :meth:`fit` would, from this first chunk and ``classes``: the
        labels, the hash seeds and the networks; later calls go on from the
        fitted model, after :meth:`fit` too. Each call runs one pass over
        its chunk, in mini-batches of ``batch_size``, and counts one in
        ``n_iter_`` and ``len(X)`` in ``t_``, as
        :meth:`sklearn.neural_network.MLPClassifier.partial_fit` does; the
        model predicts between calls. ``early_stopping``, ``max_iter`` and
        the stopping rule do not apply (the caller decides when to stop).

        Between calls the torch networks and the optimiser's state are kept
        in memory (not pickled), so that chunks train as the batches of one
        long epoch would, in float32. An estimator that was pickled, cloned
        or fitted by :meth:`fit` goes on from its stored (compact) weights
        with a fresh optimiser instead, as ``warm_start`` does.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.

        y : array-like of shape (n_samples,)
            Its labels; each must be one of ``classes`` (a chunk may lack
            some classes).

        classes : array-like of shape (n_classes,), default=None
            Every class of the whole stream. Required on the first call,
            optional (and checked) on later ones.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the chunk's samples in the loss; samples of weight 0
            are left out.

        Returns
        -------
        self : object
            The estimator, trained on one more chunk.
        """
        require_torch()
        # The torch state may have taken some of a failed chunk's steps: the
        # next call starts again from the restored weights.
        with restored_on_failure(self, forget=["_partial_state"]), fit_threads():
            self._partial_fit(X, y, classes, sample_weight)
        return self

    def _partial_fit(self, X, y, classes, sample_weight):
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: a chunk "
                "does not know the class frequencies of the stream. Compute them "
                "with sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) on a large enough sample of the labels and "
                "pass the resulting dict as class_weight."
            )
        first = not hasattr(self, "intercepts_")
        if first:
            # A previous partial_fit that failed may have left classes_.
            vars(self).pop("classes_", None)
        _check_partial_fit_first_call(self, classes)
        X, y, sample_weight = self._check_chunk(X, y, sample_weight, first)
        if len(y) == 0:
            raise ValueError("partial_fit got a chunk whose sample weights are all 0.")
        if getattr(self, "_partial_state", None) is None:
            self._partial_state = self._start_partial(X, y, sample_weight, first)
            data = self._partial_state.pop("data")
        else:
            rng = self._partial_state["trainer"].rng
            data, _ = self._prepare(X, y, sample_weight, rng, True, self.classes_)
        state = self._partial_state
        trainer, history = state["trainer"], state["history"]
        self._partial_epoch(trainer, data, history)
        fitted = {"classes_": self.classes_, **state["prepared"]}
        fitted.update(self._fitted_weights(*self._cpu_networks(trainer), state["prepared"]))
        fitted.update(self._history_attributes(history))
        vars(self).update(fitted)

    def _check_chunk(self, X, y, sample_weight, first):
        """Validated ``X``, class indices of ``y`` against ``classes_``, and
        the sample weights (class weights included) of the positive ones."""
        X, y = validate_features(self, X, y, reset=first)
        check_classification_targets(y)
        unseen = np.setdiff1d(y, self.classes_)
        if len(unseen):
            raise ValueError(
                f"y has labels {unseen.tolist()!r} that are not in classes_ "
                f"{self.classes_.tolist()!r}: pass every class of the stream as "
                "classes= in the first call to partial_fit."
            )
        with numpy_inputs():
            sample_weight = _check_weights(sample_weight, X)
        X, y, sample_weight = _drop_weightless(X, y, sample_weight)
        sample_weight = self._class_weighted(sample_weight, y, self.classes_)
        return X, np.searchsorted(self.classes_, y).astype(np.int64), sample_weight

    def _start_partial(self, X, y, sample_weight, first):
        """The torch state of partial_fit: new networks from the first
        chunk, or networks restored from the fitted attributes."""
        import torch

        from ._training import Trainer, TrainingHistory, TrainingSettings

        rng = check_random_state(self.random_state)
        data, prepared = self._prepare(X, y, sample_weight, rng, not first, self.classes_)
        settings = TrainingSettings.of(self, len(data))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rng.randint(np.iinfo(np.int32).max))
            teacher, student = self._networks(X, prepared, not first, len(self.classes_))
        if teacher is not None:
            teacher = teacher.to(settings.device)
        student = student.to(settings.device)
        history = TrainingHistory()
        if not first:
            history.loss_curve = self.loss_curve_.tolist()
            history.n_iter, history.t = self.n_iter_, self.t_
        trainer = Trainer(teacher, student, self._loss(), settings, rng)
        return {"trainer": trainer, "history": history, "prepared": prepared, "data": data}

    def _partial_epoch(self, trainer, data, history):
        from ._training import TrainingSettings, training_threads

        # "auto" batches depend on the chunk's size.
        trainer.settings = TrainingSettings.of(self, len(data))
        with training_threads():
            trainer.partial_fit(data, history)

    def _cpu_networks(self, trainer):
        """The networks to store from: copies on the CPU when training runs
        elsewhere, since storing a kept teacher moves it to the CPU."""
        import copy

        networks = (trainer.teacher, trainer.student)
        if trainer.settings.device.type == "cpu":
            return networks
        return tuple(None if n is None else copy.deepcopy(n).cpu() for n in networks)

    def __getstate__(self):
        # partial_fit's torch state is a cache: a copy (pickle, clone,
        # deepcopy) goes on from the numpy attributes, and loads without torch.
        state = dict(super().__getstate__())
        state.pop("_partial_state", None)
        return state

    def _classes(self, y, warm):
        """The classes of ``y``, checked against ``classes_`` when warm."""
        classes = np.unique(y)
        if warm:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start can only be used where y has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"y has {classes}."
                )
            return self.classes_
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                "the data, but the data contains only one class: "
                f"{classes.tolist()!r}. Check the labels (or the sample "
                "weights, which leave out samples of weight 0)."
            )
        return classes

    def _train(self, data, make_networks, rng, warm):
        """Build the networks and train them; returns ``(teacher, student,
        history)``.

        ``make_networks()`` returns the teacher (or None) and the student;
        it runs under a torch seed drawn from ``rng``, which leaves torch's
        global random state as it was.
        """
        import torch

        from ._training import Trainer, TrainingHistory, TrainingSettings, training_threads

        validation = None
        if self._early_stopping(len(data)):
            train_idx, val_idx = train_test_split(
                np.arange(len(data)),
                test_size=self.validation_fraction,
                stratify=data.y,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )
            data, validation = data.subset(train_idx), data.subset(val_idx)
        settings = TrainingSettings.of(self, len(data))
        with torch.random.fork_rng(devices=[]), training_threads():
            torch.manual_seed(rng.randint(np.iinfo(np.int32).max))
            teacher, student = make_networks()
            if teacher is not None:
                teacher = teacher.to(settings.device)
            student = student.to(settings.device)
            trainer = Trainer(teacher, student, self._loss(), settings, rng)
            history = TrainingHistory()
            if warm:
                history.loss_curve = self.loss_curve_.tolist()
                history.n_iter, history.t = self.n_iter_, self.t_
            history = trainer.fit(data, validation, history)
            history = self._post_training(trainer, data, validation, history)
        return teacher, student, history

    def _early_stopping(self, n_samples):
        """Whether a fit on ``n_samples`` holds out a validation split."""
        if self.early_stopping == "auto":
            return n_samples > EARLY_STOPPING_MIN_SAMPLES
        return self.early_stopping

    def _check_finite_weights(self, fitted):
        """Raise ``ValueError`` if a stored weight is not finite.

        Training checks its float32 weights at every epoch; this catches
        what storing them can add: float16 holds at most 65504.
        """
        for name, value in fitted.items():
            values = value if isinstance(value, list) else [value]
            if hasattr(value, "threshold_"):  # the projector
                values = [value.threshold_, value.weights_]
            for array in values:
                if _is_weight(array) and not np.isfinite(np.asarray(array)).all():
                    raise ValueError(
                        f"The trained {name} are not finite in their stored form "
                        f"(weight_dtype={self.weight_dtype!r}; float16 holds magnitudes "
                        "up to 65504). Use weight_dtype='float32' or 'int8', or a lower "
                        "learning_rate_init."
                    )

    def _post_training(self, trainer, train, validation, history):
        """A phase after the main run (none by default)."""
        return history

    def _history_attributes(self, history):
        # float32 arrays, not lists of Python floats: a 200-epoch history
        # would otherwise weigh 2 KB in the pickle of a 5 KB model.
        return {
            "loss_curve_": np.asarray(history.loss_curve, dtype=np.float32),
            "validation_scores_": (
                np.asarray(history.validation_scores, dtype=np.float32)
                if history.validation_scores
                else None
            ),
            "best_validation_score_": history.best_validation_score,
            "n_iter_": history.n_iter,
            "t_": history.t,
        }

    def trim_for_prediction(self):
        """Drop what only training needs; keep what predicts.

        After this, the estimator holds the student alone (numpy arrays)
        and pickles to its deployable size: a teacher kept by
        ``keep_teacher=True`` is deleted, and with it ``teacher_predict``
        and ``teacher_predict_proba``; a fitted scikit-learn classifier
        given as ``teacher=`` is replaced by None. Predictions are
        unchanged. Call it before ``joblib.dump`` of a model that ships.

        Returns
        -------
        self : object
            The trimmed estimator.
        """
        check_is_fitted(self)
        vars(self).pop("teacher_", None)
        vars(self).pop("_partial_state", None)
        if is_fitted_teacher(getattr(self, "teacher", None)):
            self.teacher = None
        return self

    def _logits(self, X):
        raise NotImplementedError

    def _checked_logits(self, X):
        check_is_fitted(self)
        X = validate_features(self, X, reset=False)
        if self._kernels_split_rows(X):
            return self._logits(X)
        # Each row's logits depend on that row alone: large batches are
        # split among threads, with the same result.
        return rows_in_threads(self._logits, X)

    def _kernels_split_rows(self, X):
        """Whether ``_logits(X)`` is compiled passes over the rows, each of
        which splits them among threads itself, with little between them:
        then the whole is not split again."""
        return False

    def decision_function(self, X):
        """Logits of the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Logit of each class; for two classes, that of ``classes_[1]``
            minus that of ``classes_[0]``.
        """
        logits = self._checked_logits(X)
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return softmax(self._checked_logits(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        logits = self._checked_logits(X)  # first: it checks that we are fitted
        return self.classes_[logits.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
