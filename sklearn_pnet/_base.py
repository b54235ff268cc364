"""What the package's classifiers share: input checks, label encoding, the
set-up of the training loop, compact storage and numpy-only prediction."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _compact
from ._validation import validate_features


def layer_sizes(sizes, name):
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one layer)."""
    sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
    if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must hold positive integers, got {sizes!r}.")
    return sizes


def to_numpy(parameter):
    """A torch parameter as a float32 numpy array."""
    return parameter.detach().cpu().numpy().astype(np.float32)


class BaseNetClassifier(ClassifierMixin, BaseEstimator):
    """Base class of the classifiers; not for direct use.

    Subclasses implement ``fit`` (calling :meth:`_check_training_data` and
    :meth:`_train`) and ``_logits``; prediction follows from the latter.
    """

    _parameter_constraints: dict = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate_init": [Interval(Real, 0.0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "weight_dtype": [StrOptions({"float32", "float16", "int8"})],
        "weight_clusters": [Interval(Integral, 2, 256, closed="both"), None],
        "device": [str],
    }

    def _check_training_data(self, X, y, sample_weight, warm):
        """Validated ``X``, class indices of ``y`` and sample weights, the
        samples of weight 0 left out (they would still shape mini-batches)."""
        X, y = validate_features(self, X, y, reset=not warm)
        check_classification_targets(y)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float32, ensure_non_negative=True
        )
        if (sample_weight == 0).any():
            kept = sample_weight > 0
            X, y, sample_weight = X[kept], y[kept], sample_weight[kept]
        return X, self._encode_labels(y, warm), sample_weight

    def _encode_labels(self, y, warm):
        """Class indices of ``y``; sets or checks ``classes_``."""
        classes = np.unique(y)
        if warm:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start can only be used where y has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"y has {classes}."
                )
        else:
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in "
                    "the data, but the data contains only one class: "
                    f"{classes.tolist()!r}. Check the labels (or the sample "
                    "weights, which leave out samples of weight 0)."
                )
            self.classes_ = classes
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _train(
        self,
        data,
        make_networks,
        rng,
        warm,
        loss_weights=(0.0, 0.0, 1.0),
        temperature=1.0,
        sparsity=0.0,
    ):
        """Build the networks and train them; returns ``(teacher, student)``.

        ``make_networks()`` returns the teacher (or None) and the student;
        it runs under a torch seed drawn from ``rng``, which leaves torch's
        global random state as it was. Sets the training history's fitted
        attributes (``loss_curve_``, ``n_iter_``, ...).
        """
        # Torch is imported here, not at module level: predicting never
        # needs it, and a pickled model must load where it is absent.
        import torch

        from ._training import JointTrainer, TrainingHistory

        validation = None
        if self.early_stopping:
            train_idx, val_idx = train_test_split(
                np.arange(len(data)),
                test_size=self.validation_fraction,
                stratify=data.y,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )
            data, validation = data.subset(train_idx), data.subset(val_idx)
        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rng.randint(np.iinfo(np.int32).max))
            teacher, student = make_networks()
            trainer = JointTrainer(
                None if teacher is None else teacher.to(device),
                student.to(device),
                loss_weights=loss_weights,
                temperature=temperature,
                max_iter=self.max_iter,
                batch_size=(
                    min(200, len(data)) if self.batch_size == "auto" else self.batch_size
                ),
                learning_rate_init=self.learning_rate_init,
                n_iter_no_change=self.n_iter_no_change,
                tol=self.tol,
                shuffle=self.shuffle,
                device=device,
                verbose=self.verbose,
                rng=rng,
            )
            history = TrainingHistory()
            if warm:
                history.loss_curve = self.loss_curve_.tolist()
                history.n_iter, history.t = self.n_iter_, self.t_
            history = trainer.fit(data, validation, history)
            if sparsity > 0:
                # Magnitude pruning, then fine-tuning of the weights left;
                # the stopping rule starts afresh from the pruned model.
                trainer.prune([student], sparsity)
                trainer.max_iter = max(1, self.max_iter // 10)
                history.best_validation_score, history.best_loss = None, np.inf
                history = trainer.fit(data, validation, history, warn=False)
        # float32 arrays, not lists of Python floats: a 200-epoch history
        # would otherwise weigh 2 KB in the pickle of a 5 KB model.
        self.loss_curve_ = np.asarray(history.loss_curve, dtype=np.float32)
        self.validation_scores_ = (
            np.asarray(history.validation_scores, dtype=np.float32)
            if self.early_stopping
            else None
        )
        self.best_validation_score_ = history.best_validation_score
        self.n_iter_ = history.n_iter
        self.t_ = history.t
        return teacher, student

    def _store(self, values, pruned=False):
        """Weights in the compact form that ``weight_dtype`` and
        ``weight_clusters`` ask for; a pruned matrix keeps its non-zeros."""

        def encode(v):
            return _compact.encode(v, self.weight_dtype, self.weight_clusters)

        if pruned:
            return _compact.PrunedMatrix(values, encode)
        return encode(values)

    def _store_bias(self, values):
        """Biases are few: float16 when asked for, else float32."""
        return values.astype(np.float16 if self.weight_dtype == "float16" else np.float32)

    def _logits(self, X):
        raise NotImplementedError

    def _checked_logits(self, X):
        check_is_fitted(self)
        return self._logits(validate_features(self, X, reset=False))

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
        return _compact.softmax(self._checked_logits(X))

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
