"""A linear path on hashed buckets of the raw features, beside the student.

``ProjectionNetClassifier(linear_buckets=B)`` adds to the student's logits
``linear_scale`` times the decision values of a linear model on the input:
each input feature is folded, with a hashed sign, into one of ``B``
buckets (as ``HashingVectorizer(n_features=B)`` folds words), the buckets
are weighted by their smoothed idf and each row is L2-normalised, and a
``LinearSVC`` fitted on that gives one score per class. Its coefficients
and the idf are stored as 16-value k-means codes, LZMA-compressed: most
coefficients share the few values nearest zero, so a code costs about 2
bits on 20 Newsgroups and the path weighs about ``B * n_classes / 4``
bytes there, whatever the number of input features; nothing of the
folding is stored (it is a hash of the seed).

Why a convex solver beside the bits (benchmarks/VALIDATION.md, "What the
bytes of the compact pipelines are short of"): on 20 Newsgroups the student's
trained projection fits the training documents to 99.9% and carries less to
later messages than a linear model's weights on the words do, and a linear
layer trained like the student (Adam) reads 2.3 points below liblinear's
solution. The two are combined by a fixed weight rather than trained
together, since the student would learn to fit the training documents
without the path.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ._hashing import STREAM_LINEAR, hashed_buckets
from ._inference import csr_kernel_in_threads
from ._storage import ClusteredArray

try:
    from ._kernels import linear_scores as _compiled_scores
except ImportError:  # built without a C compiler: numpy below
    _compiled_scores = None

# liblinear's C for the path, its default: with 16 stored values it reads
# 0.2-0.8 points above C = 0.3 (0.4-0.5 on average), the better one at 8
# values (VALIDATION.md, "Entropy-coded path").
LINEAR_C = 1.0
# k-means values of the stored coefficients and idf, their codes
# LZMA-compressed (VALIDATION.md, "Entropy-coded path"): at C = 1, 16 values
# lose 0.0-0.2 points to float coefficients where 8 lose 1.2-1.4, and cost
# about 2 bits a code LZMA-coded where 8 cost 3 packed.
COEF_CLUSTERS = 16
IDF_CLUSTERS = 16


def feature_buckets(seed, features, n_buckets):
    """Bucket and sign of each input feature: ``(buckets, signs)``."""
    buckets, signs = hashed_buckets(seed, features, 1, n_buckets, stream=STREAM_LINEAR)
    return buckets[:, 0], signs[:, 0].astype(np.float64)


def fold(X, seed, n_buckets):
    """``X`` (dense or sparse) folded into ``n_buckets`` signed buckets, as
    a CSR matrix of float64, duplicates summed."""
    X = sp.csr_matrix(X, dtype=np.float64)
    features, position = np.unique(X.indices, return_inverse=True)
    buckets, signs = feature_buckets(seed, features, n_buckets)
    # A copy of indptr: summing the duplicates rewrites it in place, and it
    # must not be the caller's.
    folded = sp.csr_matrix(
        (X.data * signs[position], buckets[position], X.indptr.copy()),
        shape=(X.shape[0], n_buckets),
    )
    folded.sum_duplicates()
    return folded


class LinearPath:
    """A fitted linear path: its seed and number of buckets, the stored idf
    and coefficients, and the intercepts.

    Parameters
    ----------
    seed : int
        Seed of the folding hash.
    idf : ClusteredArray of shape (n_buckets,)
        Smoothed idf of each bucket.
    coef : ClusteredArray of shape (n_scores, n_buckets)
        Coefficients: one row per class, or one for two classes (the score
        of the second).
    intercept : ndarray of shape (n_scores,)
        Intercepts, float32.
    """

    def __init__(self, seed, idf, coef, intercept):
        self.seed = seed
        self.idf = idf
        self.coef = coef
        self.intercept = intercept

    @property
    def n_buckets(self):
        return self.idf.shape[0]

    @classmethod
    def fit(cls, X, y, sample_weight, seed, n_buckets):
        """Fit on ``X`` and the class indices ``y`` (at least two classes)."""
        from sklearn.svm import LinearSVC

        folded = fold(X, seed, n_buckets)
        document_frequency = np.bincount(folded.indices, minlength=n_buckets)
        idf = np.log((1 + folded.shape[0]) / (1 + document_frequency)) + 1
        idf = ClusteredArray(idf.astype(np.float32), IDF_CLUSTERS, compress=True)
        svc = LinearSVC(C=LINEAR_C, random_state=seed)
        svc.fit(_scaled(folded, idf), y, sample_weight=sample_weight)
        coef = ClusteredArray(svc.coef_.astype(np.float32), COEF_CLUSTERS, compress=True)
        return cls(seed, idf, coef, svc.intercept_.astype(np.float32))

    def scores(self, X, n_classes):
        """Score of each class (float64, shape (n_samples, n_classes)); for
        two classes, 0 for the first."""
        if _compiled_scores is not None:
            scores = self._compiled(X)
        else:
            idf, coef_t = self._kept("decoded", self._decode)
            z = _scaled(fold(X, self.seed, self.n_buckets), idf)
            scores = np.asarray(z @ coef_t) + self.intercept
        if n_classes == 2:
            scores = np.hstack([np.zeros_like(scores), scores])
        return scores

    def _compiled(self, X):
        """The scores by the compiled kernel: the exported C runtime's
        operations in its order (numpy's differ in the last bits), and a
        few microseconds a document where scipy's steps take 0.4 ms."""
        idf, codes_t, table = self._kept("coded", self._code)
        X = sp.csr_matrix(X)
        indices = X.indices
        indptr = X.indptr.astype(indices.dtype, copy=False)
        scores = np.empty((X.shape[0], codes_t.shape[1]))
        data = np.ascontiguousarray(X.data, dtype=np.float64)
        intercept = self.intercept.astype(np.float64)

        # Each non-zero adds a row of coefficients (one per score) once.
        csr_kernel_in_threads(
            _compiled_scores,
            indptr,
            (indices, data, idf, codes_t, intercept),
            scores,
            (self.seed, self.n_buckets, table),
            X.nnz * scores.shape[1],
        )
        return scores

    def _kept(self, name, make):
        """``make()``, made at the first prediction and kept (not pickled):
        decompressing and decoding the codes would otherwise take most of
        a one-document prediction."""
        kept = vars(self).setdefault("_kept_arrays", {})
        if name not in kept:
            kept[name] = make()
        return kept[name]

    def _decode(self):
        """The idf and the transposed coefficients in float64."""
        idf = np.asarray(self.idf, dtype=np.float64)
        return idf, np.ascontiguousarray(np.asarray(self.coef, dtype=np.float64).T)

    def _code(self):
        """The idf in float64, the transposed coefficients as byte codes
        into a table of 256 float64 values (the centroids, exactly)."""
        table = np.zeros(256)
        table[: len(self.coef.centroids)] = self.coef.centroids
        codes_t = self.coef.codes().reshape(self.coef.shape).T
        return np.asarray(self.idf, dtype=np.float64), np.ascontiguousarray(codes_t), table

    def __getstate__(self):
        state = dict(vars(self))
        state.pop("_kept_arrays", None)
        return state


def _scaled(folded, idf):
    """Folded rows times the idf (any stored form), each L2-normalised."""
    return normalize(folded @ sp.diags(np.asarray(idf, dtype=np.float64)))
