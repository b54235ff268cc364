"""scikit-learn's HashingVectorizer, its word counting compiled.

A compact model's prediction on raw text spends most of its time before the
model: on 20 Newsgroups' test documents ``HashingVectorizer`` takes about
85 µs a document, the 256 KiB ProjectionNet after it about 12 µs
(benchmarks/kernel_speed.py). :class:`FastHashingVectorizer` computes the
same matrix with the C text front end that exported models compile
(``export/c/pnet_text.c``), so Python and the exported program share one
tokeniser: words of two or more word characters, lowercased, hashed with
MurmurHash3 as scikit-learn hashes them.

That C code is exact for ASCII text, where ``\\w`` and ``lower()`` are plain
byte rules; for any other document the C code hashes the tokens of
scikit-learn's own analyzer. Settings the C code does not reproduce (other
token patterns, n-grams, stop words, a preprocessor...) run scikit-learn's
code as they are. Either way the output is scikit-learn's, to the bit.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

try:
    from ._kernels import hash_documents
except ImportError:  # built without a C compiler: scikit-learn's code
    hash_documents = None

try:  # scikit-learn >= 1.9 returns the sparse type its configuration names
    from sklearn.utils._sparse import _align_api_if_sparse
except ImportError:  # earlier versions return a csr_matrix, as built here

    def _align_api_if_sparse(X):
        return X


# The settings under which the compiled tokeniser is HashingVectorizer's:
# its word analyzer with the default pattern on lowercased text, and
# nothing added before or after it. The rest (n_features, alternate_sign,
# binary, norm, dtype, and encoding and decode_error, which only the
# analyzer's documents use) act on the counts, as scikit-learn's code does.
# export_c's text front end takes these too, with UTF-8 text and float64.
COMPILED_SETTINGS = {
    "input": "content",
    "strip_accents": None,
    "lowercase": True,
    "preprocessor": None,
    "tokenizer": None,
    "stop_words": None,
    "token_pattern": r"(?u)\b\w\w+\b",
    "ngram_range": (1, 1),
    "analyzer": "word",
}


class FastHashingVectorizer(HashingVectorizer):
    """scikit-learn's ``HashingVectorizer``, with its word counting compiled.

    Takes the same parameters and returns the same matrix, to the bit; a
    drop-in replacement in a pipeline (and in :func:`sklearn_pnet.export.
    export_c`, whose text front end is the same C code). With the default
    analyzer, pattern and lowercasing, ASCII documents are tokenised and
    hashed in C (20 Newsgroups' test set: 122 ms against 615, one message
    28 µs against 78; benchmarks/SPEED.md, "Eighth session");
    other documents are tokenised by scikit-learn's analyzer and hashed in
    C. Other settings, or a build without the compiled kernels, run
    scikit-learn's code.

    See :class:`sklearn.feature_extraction.text.HashingVectorizer` for the
    parameters.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import HashingVectorizer
    >>> from sklearn_pnet import FastHashingVectorizer
    >>> docs = ["The cat sat on the mat.", "Le chat était assis."]
    >>> X = FastHashingVectorizer(n_features=2**10).transform(docs)
    >>> X.shape
    (2, 1024)
    >>> Y = HashingVectorizer(n_features=2**10).transform(docs)
    >>> bool((X != Y).nnz == 0 and (X.indices == Y.indices).all())
    True
    """

    def transform(self, X):
        """Transform a sequence of documents to a document-term matrix.

        Parameters
        ----------
        X : iterable over raw text documents, length = n_samples
            Samples, as for ``HashingVectorizer.transform``.

        Returns
        -------
        X : sparse matrix of shape (n_samples, n_features)
            Document-term matrix, HashingVectorizer's.
        """
        if isinstance(X, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        X = list(X)
        if not X:
            # (scikit-learn's own code stops with a bare StopIteration here)
            raise ValueError("No documents to vectorize: pass a sequence of at least one document.")
        if hash_documents is None or not self._compiled_settings():
            return super().transform(X)
        self._validate_ngram_range()
        # An ASCII str goes to the C tokeniser as it is (a numpy string, as
        # a unicode array holds them, as the str it is); anything else (other
        # scripts, bytes, a file object's text) as the analyzer's tokens.
        analyzer, documents = None, []
        for doc in X:
            if type(doc) is np.str_:
                doc = str(doc)
            if type(doc) is not str or not doc.isascii():
                analyzer = analyzer or self.build_analyzer()
                doc = analyzer(doc)
            documents.append(doc)
        indptr, indices, values = hash_documents(documents, self.n_features, self.alternate_sign)
        # scipy chooses the index types from the contents, as for
        # FeatureHasher's arrays; the rows are already sorted and summed.
        X = sp.csr_matrix(
            (
                np.frombuffer(values, dtype=np.float64),
                np.frombuffer(indices, dtype=np.uint32).astype(np.int32),
                np.frombuffer(indptr, dtype=np.int64),
            ),
            dtype=self.dtype,
            shape=(len(documents), self.n_features),
        )
        X.sum_duplicates()  # checks the format, as FeatureHasher leaves it
        if self.binary:
            X.data.fill(1)
        if self.norm is not None:
            X = normalize(X, norm=self.norm, copy=False)
        return _align_api_if_sparse(X)

    def _compiled_settings(self):
        # Attributes, not get_params: this runs at every call, and a
        # one-document call takes microseconds.
        return all(
            _same_setting(getattr(self, key), value) for key, value in COMPILED_SETTINGS.items()
        )


def _same_setting(value, compiled):
    if isinstance(compiled, tuple):  # ngram_range, which may be given as a list
        return isinstance(value, (tuple, list)) and tuple(value) == compiled
    if isinstance(compiled, str):
        return isinstance(value, str) and value == compiled
    return value is compiled  # None, or lowercase=True
