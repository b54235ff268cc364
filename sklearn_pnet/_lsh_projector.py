"""Locality-sensitive hashing of features into bits.

:class:`LSHProjector` maps each sample to ``n_bits`` bits, bit ``k`` being
the sign of a signed random projection ``<x, p_k>`` against a per-bit
threshold (Charikar's SimHash: two samples disagree on a bit with
probability ``angle(x, x') / pi``). The projection vectors ``p_k`` are never
stored: their entries are recomputed from a seed by the hash function in
:mod:`sklearn_pnet._hashing`, only for the features a batch actually uses,
so a fitted projector weighs a few kilobytes whatever the number of input
features.
"""

# SPDX-License-Identifier: BSD-3-Clause

import weakref
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _hashing
from ._inference import (
    hashed_projection,
    projection_entries_of_all,
    sparse_bits_product,
    sparse_structure_of,
)
from ._model_format import ModelFormatMixin
from ._validation import IntInterval, numpy_inputs, restored_on_failure, validate_features

__all__ = ["LSHProjector"]

# The most bits a projection may have. A bit costs a float32 threshold, a
# float64 column of the projection of every batch and, in a classifier, a
# row of the student's first layer; 2**16 bits is 64 times the largest
# budget of the benchmarks, and n_bits=10**7 would allocate gigabytes
# before the first epoch.
MAX_N_BITS = 2**16

# The hashed structure of a fitted sparse projection (each feature's bits
# and values, 2 to 8 bytes a slot: see projection_entries_of_all), kept
# beside its projector after the first call so that prediction does not hash
# the same features again: on 20 Newsgroups (130,107 features x 32 slots,
# 8 MB) hashing took a tenth of a batch prediction and about half of a
# one-row one. It is not part of the model:
# never pickled, dropped with the projector, and not kept for projections
# of more than STRUCTURE_CACHE_ENTRIES slots (a 2**20-column
# HashingVectorizer), which hash the features present at each call; those
# keep their shared weights decoded to float32 instead (4 bytes a weight),
# since decoding 622,592 k-means codes took ten times a one-row prediction's
# projection. Kept outside the instance because scikit-learn forbids
# transform to change an estimator's __dict__.
STRUCTURE_CACHE_ENTRIES = 2**23
_structures = weakref.WeakKeyDictionary()


def auto_density(n_features, n_bits, min_slots=1):
    """``density="auto"``: ``1 / sqrt(n_features)``, as scikit-learn's
    ``SparseRandomProjection`` has it, but at least ``min_slots`` bits per
    feature and at most all of them."""
    return float(min(1.0, max(1.0 / np.sqrt(n_features), min_slots / n_bits)))


def check_output_dtype(dtype):
    """``dtype`` as a numpy dtype that holds 0 and 1 (bool, int or float)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype={dtype!r} is not a numpy dtype ({exc}).") from exc
    if dtype.kind not in "biuf":
        raise ValueError(
            f"dtype={dtype!r} cannot hold bits: use a bool, integer or float type, "
            "e.g. np.uint8 (the default)."
        )
    return dtype


def check_finite_thresholds(threshold):
    """The thresholds as float32, which must be finite.

    Features of about 1e38 and beyond overflow the projection (or its
    float32 thresholds): every bit would then be constant, so fitting
    must fail rather than return such a projector.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        threshold = np.asarray(threshold).astype(np.float32)
    if not np.isfinite(threshold).all():
        raise ValueError(
            "The projection of X overflows: its thresholds (the projections of the "
            "training mean) are not finite in float32. Scale the features, e.g. with "
            "StandardScaler or MaxAbsScaler, so that their magnitudes are well below "
            "1e38."
        )
    return threshold


def n_slots(density, n_features, n_bits):
    """How many bits each feature touches, or None for a dense projection."""
    if density == "auto":
        density = auto_density(n_features, n_bits)
    if density >= 1.0:
        return None
    return max(1, int(round(density * n_bits)))


class LSHProjector(
    ModelFormatMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Map features to bits by hashed signed random projections.

    Bit ``k`` of a sample ``x`` is ``1`` when ``<x, p_k>`` exceeds a per-bit
    threshold, else ``0``. The entries of the projection vectors ``p_k`` are
    ``+1``/``-1`` (or ``0``) values recomputed from ``(seed, feature, bit)``
    by a hash function every time they are needed; nothing of them is stored
    or pickled, so the fitted transformer is a few kilobytes even for
    millions of input features, and an input stays sparse until the bits.

    Read more in the README, section "How it works".

    Parameters
    ----------
    n_bits : int, default=256
        Number of output bits.

    density : float in (0, 1] or "auto", default="auto"
        Fraction of the bits that each input feature contributes to.
        ``1.0`` is the dense ±1 projection (every feature touches every
        bit). Below that, each feature is added with a hashed sign to
        ``round(density * n_bits)`` hashed bits (at least one), which is
        both faster (cost proportional to the non-zeros times the bits
        touched) and, on sparse text features, more accurate. "auto" uses
        ``1 / sqrt(n_features)``, as :class:`~sklearn.random_projection.
        SparseRandomProjection` does: about 32 bits out of 256 per feature
        for 64 pixel features, one bit per feature for 100k-word
        vocabularies.

    center : bool, default=True
        Threshold bit ``k`` at ``<mean, p_k>``, the projection of the
        (weighted) training mean, instead of at 0. This is centring the
        data without touching it, so sparse input stays sparse. On
        non-negative features it balances bits that would otherwise be
        nearly constant, which matters at small bit budgets (evidence:
        ``benchmarks/VALIDATION.md``, "Defaults").

    dtype : numpy dtype, default=np.uint8
        Type of the output array of zeros and ones.

    random_state : int, RandomState instance or None, default=None
        Draws the seed of the hash function. Pass an int for the same bits
        across calls and platforms.

    Attributes
    ----------
    seed_ : int
        Seed of the hash that defines the projection; with ``n_bits`` and
        ``n_slots_`` it is all a re-implementation needs (see
        :mod:`sklearn_pnet._hashing`).

    n_slots_ : int or None
        Bits touched by each feature, or None for the dense projection.

    dtype_ : numpy.dtype
        Type of the bits :meth:`transform` returns: ``dtype``, as it was at
        :term:`fit` (a transform reads fitted attributes only).

    threshold_ : ndarray of shape (n_bits,)
        Per-bit threshold (zeros when ``center=False``).

    weights_ : ndarray of shape (n_weights,) or None
        None after :meth:`fit`: the entries of the projection are ±1. A
        projection trained by ``ProjectionNetClassifier(projection=
        "trained")`` multiplies each entry by one of these shared weights,
        chosen by a hash of (feature, bit), as in HashedNets.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    ProjectionNetClassifier : Trains a small network on these bits, jointly
        with a full teacher network.
    sklearn.random_projection.SparseRandomProjection : Stores its random
        matrix and returns real values instead of bits.

    References
    ----------
    .. [1] S. Ravi, "ProjectionNet: Learning Efficient On-Device Deep
       Networks Using Neural Projections", arXiv:1708.00630, 2017.
    .. [2] M. Charikar, "Similarity estimation techniques from rounding
       algorithms", STOC 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_pnet import LSHProjector
    >>> X = np.array([[1.0, 0.0, 2.0], [0.9, 0.1, 2.1], [-3.0, 1.0, 0.0]])
    >>> bits = LSHProjector(n_bits=16, random_state=0).fit_transform(X)
    >>> bits.shape, bits.dtype
    ((3, 16), dtype('uint8'))
    >>> int((bits[0] != bits[1]).sum()) < int((bits[0] != bits[2]).sum())
    True
    """

    _parameter_constraints: dict = {
        "n_bits": [IntInterval(1, MAX_N_BITS, closed="both")],
        "density": [
            Interval(Real, 0.0, 1.0, closed="right"),
            StrOptions({"auto"}),
        ],
        "center": ["boolean"],
        "dtype": "no_validation",  # any numpy dtype
        "random_state": ["random_state"],
    }

    def __init__(
        self, n_bits=256, *, density="auto", center=True, dtype=np.uint8, random_state=None
    ):
        self.n_bits = n_bits
        self.density = density
        self.center = center
        self.dtype = dtype
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Draw the hash seed and, if ``center``, the per-bit thresholds.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.

        y : Ignored
            Not used, present here for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the training mean.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        self._fit_projection(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit to ``X`` and return its bits, projecting ``X`` only once.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.

        y : Ignored
            Not used, present here for API consistency by convention.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the training mean.

        Returns
        -------
        bits : ndarray of shape (n_samples, n_bits)
            Zeros and ones of type ``dtype``.
        """
        Z = self._fit_projection(X, sample_weight)
        return self._threshold(Z)

    def _fit_projection(self, X, sample_weight):
        with restored_on_failure(self):
            return self._fit_projection_state(X, sample_weight)

    def _fit_projection_state(self, X, sample_weight):
        self.dtype_ = check_output_dtype(self.dtype)
        X = validate_features(self, X, reset=True)
        rng = check_random_state(self.random_state)
        self.seed_ = int(rng.randint(_hashing.MAX_SEED, dtype=np.int64))
        self.n_slots_ = n_slots(self.density, self.n_features_in_, self.n_bits)
        self._n_features_out = self.n_bits
        self.weights_ = None
        Z = hashed_projection(X, self.seed_, self.n_bits, self.n_slots_, self.weights_)
        if self.center:
            with numpy_inputs():
                sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
            threshold = np.average(Z, axis=0, weights=sample_weight)
        else:
            threshold = np.zeros(self.n_bits)
        # float32 halves the only per-bit state, at no cost in bits that
        # matters: a sample within float32 rounding of a hyperplane is a tie.
        self.threshold_ = check_finite_thresholds(threshold)
        return Z

    def project(self, X):
        """Signed distance of each sample to each bit's hyperplane.

        This is the real-valued projection before thresholding:
        ``transform(X) == (project(X) > 0)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_bits)
            ``<x, p_k> - threshold_[k]``.
        """
        check_is_fitted(self)
        X = validate_features(self, X, reset=False)
        return self._project(X) - self.threshold_

    def transform(self, X):
        """Hash each sample to ``n_bits`` bits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data. Sparse input is never densified.

        Returns
        -------
        bits : ndarray of shape (n_samples, n_bits)
            Zeros and ones of type ``dtype``.
        """
        check_is_fitted(self)
        return self._bits(validate_features(self, X, reset=False))

    def _bits(self, X):
        """The bits of an already validated ``X`` (a classifier that holds
        this projector has validated its input once)."""
        return self._threshold(self._project(X))

    def _bits_product(self, X, weights):
        """``self._bits(X) @ weights`` in float64, as the first layer of
        :func:`~sklearn_pnet._inference.forward` computes it (any stored
        form of ``weights``), in one compiled pass over the rows of a
        sparse, validated ``X``; None for dense ``X``, a dense projection
        or where the compiled kernel cannot run."""
        if not sp.issparse(X) or self.n_slots_ is None:
            return None
        n_bits = len(self.threshold_)
        structure, projection_weights = self._structure(n_bits)
        X, structure = sparse_structure_of(
            X, self.seed_, n_bits, self.n_slots_, projection_weights, structure
        )
        return sparse_bits_product(X, *structure, self.threshold_, weights)

    def _project(self, X):
        # Fitted state only: ``n_bits`` may have been set to another value
        # since fit, and the hashes must agree with the thresholds.
        n_bits = len(self.threshold_)
        structure, weights = self._structure(n_bits)
        return hashed_projection(X, self.seed_, n_bits, self.n_slots_, weights, structure)

    def _structure(self, n_bits):
        """``(structure, weights)``: the cached structure of this fitted
        sparse projection and its weights, or, where no structure is kept
        (see ``STRUCTURE_CACHE_ENTRIES``), None and the weights decoded to
        float32 (the same values as every stored form gives)."""
        n_features, n_slots = self.n_features_in_, self.n_slots_
        cache = n_slots is not None and n_features * n_slots <= STRUCTURE_CACHE_ENTRIES
        weights = self.weights_
        plain = weights is None or (isinstance(weights, np.ndarray) and weights.dtype != np.float16)
        if not cache and plain:
            return None, weights  # nothing to decode
        # The key is the fitted state the hashes depend on; a refit makes new
        # weights, and holding them keeps their id from being reused.
        key = (self.seed_, n_bits, n_slots, n_features, cache)
        cached = _structures.get(self)
        if cached is not None and cached[0] == key and cached[1] is weights:
            return cached[2]
        if cache:
            structure = projection_entries_of_all(self.seed_, n_features, n_bits, n_slots, weights)
            kept = structure, weights
        else:
            kept = None, np.asarray(weights, dtype=np.float32)
        _structures[self] = (key, weights, kept)
        return kept

    def _threshold(self, Z):
        return (Z > self.threshold_).astype(self.dtype_, copy=False)

    def _use_trained_weights(self, weights, threshold):
        """Adopt shared weights and thresholds trained for this projection.

        ``ProjectionNetClassifier(projection="trained")`` trains, through
        the sign, one of ``weights`` for each ±1 entry of this projection
        (chosen by a hash, as in HashedNets) and the per-bit thresholds;
        this is how they enter the fitted projector.

        Parameters
        ----------
        weights : ndarray of shape (n_weights,) or a compact form
            The shared weights, in any form of :mod:`sklearn_pnet._storage`.
        threshold : ndarray of shape (n_bits,)
            The trained thresholds.

        Returns
        -------
        self : object
            The projector, now the trained projection.
        """
        check_is_fitted(self)
        self.weights_ = weights
        self.threshold_ = np.asarray(threshold, dtype=np.float32)
        return self

    def __setstate__(self, state):
        # Projectors of 0.1.0 have no ``dtype_``: their transform read the
        # ``dtype`` parameter, which is what they were fitted with.
        if "threshold_" in state and "dtype_" not in state:
            state = {**state, "dtype_": np.dtype(state["dtype"])}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # The output is bits of type ``dtype``, whatever the input's type.
        tags.transformer_tags.preserves_dtype = []
        return tags
