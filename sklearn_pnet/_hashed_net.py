"""HashedNets: an MLP whose weight matrices share a few weights by hashing."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from . import _hashing
from ._base import BaseNetClassifier, layer_sizes, to_numpy
from ._inference import hashed_forward
from ._storage import store_bias, store_weights
from ._validation import IntInterval

__all__ = ["HashedNetClassifier"]


def _n_weights(n_in, n_out, compression, hash_bias):
    """Real weights ``K`` of a layer: ``compression`` times its virtual
    entries (the biases' too when they are hashed), at least one."""
    n_entries = (n_in + hash_bias) * n_out
    return max(1, int(round(compression * n_entries)))


def _layer_seeds(rng, n_layers):
    """One hash seed per layer, all different, so that no two layers share
    their hash pattern."""
    seeds = []
    while len(seeds) < n_layers:
        seed = int(rng.randint(_hashing.MAX_SEED, dtype=np.int64))
        if seed not in seeds:
            seeds.append(seed)
    return seeds


class HashedNetClassifier(BaseNetClassifier):
    """Multi-layer perceptron with hashed weight sharing (HashedNets).

    Each layer of this MLP has a *virtual* weight matrix of the usual shape
    ``(n_in, n_out)`` but keeps only ``K = compression * n_in * n_out`` real
    weights ``w``: entry ``(i, j)`` is ``xi(i, j) * w[h(i, j)]``, where the
    bucket ``h`` and the sign ``xi`` are hashes of ``(i, j)`` computed from a
    per-layer seed (Chen et al., 2015). The hashes are never stored, so the
    model weighs ``K`` weights per layer, and training learns the shared
    weights directly, with the gradient of ``w[k]`` summing ``xi * dL/dV``
    over its bucket.

    The virtual matrices are never built whole, in training or prediction:
    they are formed a block at a time, and for sparse input only the rows
    of the features present in a batch are, so a million-column tf-idf
    input costs in proportion to its non-zeros.

    Training needs PyTorch; :meth:`predict` needs numpy and scipy only.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layers (of virtual units). Their cost is ``compression``
        times the dense layers', so wider layers than usual are affordable.

    compression : float in (0, 1], default=1/8
        Real weights per virtual weight in each layer, ``K / (n_in *
        n_out)``: 1/8 stores an eighth of the weights of the same MLP, 1/64
        a sixty-fourth. Each layer keeps at least one weight.

    hash_bias : bool, default=False
        Take each layer's biases from its shared weights too, as the
        virtual weights of a constant input (row ``n_in`` of the virtual
        matrix), instead of keeping ``n_out`` biases of its own.

    max_iter : int, default=200
        Maximum number of epochs.

    batch_size : int or "auto", default="auto"
        Size of minibatches; "auto" is ``min(200, n_samples)``.

    learning_rate_init : float, default=0.001
        Adam's learning rate.

    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the training data (stratified)
        and stop when the accuracy on it stops improving; the weights of
        the best epoch are kept. "auto" does so on more than 10,000
        training samples and trains smaller sets on all their samples (see
        ``benchmarks/VALIDATION.md``, "Stopping rule").

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
        Seeds the hashes, the weight initialisation, the validation split
        and the shuffling. An int gives the same model on every fit on the
        same machine, and the same hashes on every platform.

    verbose : bool, default=False
        Print one line of progress per epoch.

    warm_start : bool, default=False
        Continue training from the fitted weights, with the same hashes.

    weight_dtype : {"float32", "float16", "int8"}, default="float16"
        How the shared weights (and the biases) are stored after training:
        float16 halves the size; int8 stores one byte a weight plus a
        float32 scale per 256 weights.

    weight_clusters : int, default=None
        Weight sharing by k-means on top of the hashing (Han et al., 2016):
        each layer's weights are replaced by the nearest of this many
        centroids and stored as packed ``ceil(log2(k))``-bit codes.
        Overrides ``weight_dtype`` for the weights.

    device : str, default="cpu"
        Torch device that trains the network, e.g. "cuda". Prediction
        always runs on the CPU with numpy.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, ``{label: weight}``;
        "balanced" weighs each class by ``n_samples / (n_classes *
        count)``. Multiplied with ``sample_weight``, as in scikit-learn's
        linear models. :meth:`partial_fit` takes a dict only.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.

    weights_ : list of arrays
        Real weights of each layer, ``weights_[i]`` of shape
        ``(n_weights_[i],)``: a numpy array, or a compact form (int8,
        k-means) that ``np.asarray`` decodes.

    intercepts_ : list of (ndarray or None)
        Biases of each layer; None for each layer with ``hash_bias=True``,
        whose biases come from ``weights_``.

    seeds_ : list of int
        Hash seed of each layer.

    layer_sizes_ : tuple of int
        Virtual units of each layer, input features and outputs (one per
        class) included.

    n_weights_ : list of int
        Number of real weights of each layer.

    loss_curve_ : ndarray of shape (n_iter_,)
        Training loss at each epoch (float32).

    validation_scores_ : ndarray of shape (n_iter_,) or None
        Accuracy on the held-out data at each epoch, when the fit stopped
        early (see ``early_stopping``); else None.

    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    n_iter_ : int
        Number of epochs run (one per :meth:`partial_fit` call).

    t_ : int
        Number of training samples seen by the optimiser.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    ProjectionNetClassifier : A compact student on hashed bits.
    sklearn.neural_network.MLPClassifier : The same network with all its
        weights.

    Notes
    -----
    The hashes are those of :func:`sklearn_pnet._hashing.hashed_buckets`
    (``hashed_entry`` in that module's C listing): a device can rebuild
    every virtual weight from ``seeds_`` and ``weights_``.

    References
    ----------
    .. [1] W. Chen, J. T. Wilson, S. Tyree, K. Q. Weinberger and Y. Chen,
       "Compressing Neural Networks with the Hashing Trick", ICML 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_pnet import HashedNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = HashedNetClassifier(
    ...     hidden_layer_sizes=(64,), compression=1/8, max_iter=50, random_state=0
    ... )
    >>> clf = clf.fit(X_train, y_train)
    >>> clf.n_weights_  # 64 x 64 / 8 and 64 x 10 / 8 real weights
    [512, 80]
    >>> clf.score(X_test, y_test) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseNetClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like", IntInterval(1, None, closed="left")],
        "compression": [Interval(Real, 0.0, 1.0, closed="right")],
        "hash_bias": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256,),
        *,
        compression=1 / 8,
        hash_bias=False,
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
        weight_dtype="float16",
        weight_clusters=None,
        device="cpu",
        class_weight=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.compression = compression
        self.hash_bias = hash_bias
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
        self.device = device
        self.class_weight = class_weight

    def _check_parameters(self):
        super()._check_parameters()
        layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")

    def _prepare(self, X, y, sample_weight, rng, warm, classes):
        """The layers' sizes, real weights and hash seeds (new, or the
        fitted ones when warm), and the data: raw rows, dense or CSR."""
        from ._training import TrainingData

        hidden = layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        sizes = (X.shape[1], *hidden, len(classes))
        n_weights = [
            _n_weights(n_in, n_out, self.compression, self.hash_bias)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        ]
        if warm:
            self._check_warm_start(sizes, n_weights)
            seeds = self.seeds_
        else:
            seeds = _layer_seeds(rng, len(n_weights))
        # bits=None: the network gets the raw rows, dense or CSR.
        data = TrainingData(X, None, y, sample_weight)
        return data, {"seeds_": seeds, "layer_sizes_": sizes, "n_weights_": n_weights}

    def _networks(self, X, prepared, warm, n_classes):
        """No teacher; the hashed MLP, restored from the fitted weights when
        warm."""
        from ._torch_hashednet import hashed_mlp

        sizes = prepared["layer_sizes_"]
        network = hashed_mlp(
            sizes[0],
            sizes[1:-1],
            sizes[-1],
            prepared["n_weights_"],
            prepared["seeds_"],
            self.hash_bias,
        )
        if warm:
            for layer, weight, intercept in zip(
                _hashed_layers(network), self.weights_, self.intercepts_
            ):
                layer.load_numpy(np.asarray(weight), intercept)
        return None, network

    def _loss(self):
        from ._training import student_loss

        return student_loss

    def _fitted_weights(self, teacher, student, prepared):
        layers = _hashed_layers(student)
        return {
            "weights_": [
                store_weights(to_numpy(layer.weight), self.weight_dtype, self.weight_clusters)
                for layer in layers
            ],
            "intercepts_": [
                None if layer.bias is None else store_bias(to_numpy(layer.bias), self.weight_dtype)
                for layer in layers
            ],
        }

    def _check_warm_start(self, sizes, n_weights):
        fitted = (self.layer_sizes_, self.n_weights_, self.intercepts_[0] is None)
        if (sizes, n_weights, self.hash_bias) != fitted:
            raise ValueError(
                "warm_start needs the same layers as the fitted model (layer sizes "
                f"{self.layer_sizes_}, {self.n_weights_} real weights, hash_bias="
                f"{fitted[2]}), got {sizes}, {n_weights} and hash_bias="
                f"{self.hash_bias}; set warm_start=False to train a new model."
            )

    def _logits(self, X):
        return hashed_forward(
            X, self.weights_, self.intercepts_, self.seeds_, self.layer_sizes_[1:]
        )


def _hashed_layers(network):
    from ._torch_hashednet import HashedLinear

    return [m for m in network if isinstance(m, HashedLinear)]
