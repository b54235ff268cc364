"""FastHashingVectorizer: scikit-learn's HashingVectorizer matrix, to the bit."""

# SPDX-License-Identifier: BSD-3-Clause

import pickle
import random

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from conftest import DATA_DIR
from sklearn.base import clone
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import make_pipeline

from sklearn_pnet import FastHashingVectorizer, ProjectionNetClassifier, _text

pytestmark = pytest.mark.skipif(
    _text.hash_documents is None, reason="built without the compiled kernels"
)

# Cases the tokeniser must get right: case, digits and underscores inside
# words, one-character words, punctuation and whitespace of every ASCII
# kind, repeated words, empty documents, and text beyond ASCII (accents,
# capital letters of other scripts, a non-breaking space, the Kelvin sign,
# whose lowercase is ASCII "k", and a dotted capital I, whose lowercase is
# two characters), and lone surrogates, which are no word characters; the
# analyzer tokenises those.
DOCUMENTS = [
    "The cat sat on the mat. THE CAT! the_cat cat2 2cat 42 a b c",
    "Hello,world;hello\tWORLD\nhello\r\nx y zz __ _a a_ A1 1A",
    "",
    "   \t\n ",
    "a",
    "!!! ??? ... --- +++",
    "repeat " * 50 + "once",
    "Le chat était assis sur le tapis; ÉTÉ été",
    "Привет МИР мир",
    "non\u00a0breaking space",
    "\u212aelvin kelvin",
    "\u0130stanbul istanbul",
    "Straße STRASSE",
    "tab\x0bvertical\x0cform\x1fcontrol\x7fdelete",
    "nul\x00byte inside",
    # Long rows, sorted in C by a quicksort: distinct words, ascending and
    # descending, and runs of one word.
    " ".join(f"w{i}" for i in range(3000)) + " w7" * 500,
    " ".join(f"w{i}" for i in reversed(range(3000))),
]
# Not for the character analyzer, whose n-grams of them cannot be encoded.
SURROGATES = "lone\ud800surrogates \udfff split words"


def assert_same_matrix(X, Y):
    assert type(X) is type(Y)
    assert X.shape == Y.shape and X.dtype == Y.dtype
    assert X.indptr.dtype == Y.indptr.dtype and X.indices.dtype == Y.indices.dtype
    np.testing.assert_array_equal(X.indptr, Y.indptr)
    np.testing.assert_array_equal(X.indices, Y.indices)
    # Bitwise: equal values, and the same signs of zero.
    np.testing.assert_array_equal(X.data.view(np.uint8), Y.data.view(np.uint8))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_features": 2**20, "alternate_sign": False, "norm": None},
        {"n_features": 7, "norm": None},  # collisions, and +1 - 1 = 0 kept as scipy keeps it
        {"n_features": 1},
        {"binary": True, "norm": "l1"},
        {"n_features": 2**31 - 1},
        {"dtype": np.float32},
    ],
    ids=["defaults", "raw-counts", "collisions", "one-column", "binary-l1", "widest", "float32"],
)
def test_same_matrix_as_hashing_vectorizer(params):
    docs = [*DOCUMENTS, SURROGATES]
    assert_same_matrix(
        FastHashingVectorizer(**params).transform(docs), HashingVectorizer(**params).transform(docs)
    )


def test_random_ascii_text():
    """Random ASCII over every character class, and collisions on 13
    columns, with alternating signs."""
    rng = random.Random(0)
    alphabet = "aAbBzZ09_ \t\n.,;!-'\"()\x00\x7f"
    docs = ["".join(rng.choices(alphabet, k=rng.randrange(200))) for _ in range(300)]
    for params in ({"n_features": 13, "norm": None}, {"alternate_sign": False}):
        assert_same_matrix(
            FastHashingVectorizer(**params).transform(docs),
            HashingVectorizer(**params).transform(docs),
        )


def test_tokenised_in_c(monkeypatch):
    """ASCII documents reach the C tokeniser as text; the others as the
    analyzer's tokens."""
    seen = []

    def spy(documents, n_features, alternate_sign):
        seen.extend(documents)
        return real(documents, n_features, alternate_sign)

    real = _text.hash_documents
    monkeypatch.setattr(_text, "hash_documents", spy)
    FastHashingVectorizer().transform(["Plain ASCII", "Été"])
    assert seen == ["Plain ASCII", ["été"]]


@pytest.mark.parametrize(
    "params",
    [
        {"ngram_range": (1, 2)},
        {"stop_words": "english"},
        {"lowercase": False},
        {"token_pattern": r"\b\w+\b"},
        {"analyzer": "char", "ngram_range": (2, 3)},
        {"preprocessor": str.upper},
        {"strip_accents": "unicode"},
    ],
    ids=["bigrams", "stop-words", "cased", "pattern", "chars", "preprocessor", "accents"],
)
def test_other_settings_run_scikit_learn(params, monkeypatch):
    def refuse(*args):
        raise AssertionError("the C tokeniser does not reproduce these settings")

    monkeypatch.setattr(_text, "hash_documents", refuse)
    assert_same_matrix(
        FastHashingVectorizer(**params).transform(DOCUMENTS),
        HashingVectorizer(**params).transform(DOCUMENTS),
    )


def test_without_the_kernels(monkeypatch):
    monkeypatch.setattr(_text, "hash_documents", None)
    assert_same_matrix(
        FastHashingVectorizer().transform(DOCUMENTS), HashingVectorizer().transform(DOCUMENTS)
    )


def test_numpy_strings_are_tokenised_in_c(monkeypatch):
    seen = []
    real = _text.hash_documents
    monkeypatch.setattr(
        _text, "hash_documents", lambda docs, *args: seen.extend(docs) or real(docs, *args)
    )
    docs = np.array(["Numpy Strings", "of a unicode array"])
    assert_same_matrix(FastHashingVectorizer().transform(docs), HashingVectorizer().transform(docs))
    assert seen == ["Numpy Strings", "of a unicode array"]
    assert all(type(doc) is str for doc in seen)


def test_documents_of_other_types():
    """bytes (decoded as the analyzer decodes them), numpy strings, a str
    subclass, and a generator of documents."""

    class Text(str):
        pass

    docs = [b"Bytes doc \xc3\xa9t\xc3\xa9", np.str_("Numpy String"), Text("Sub Class")]
    expected = HashingVectorizer().transform(docs)
    assert_same_matrix(FastHashingVectorizer().transform(docs), expected)
    assert_same_matrix(FastHashingVectorizer().transform(iter(docs)), expected)


def test_errors_as_hashing_vectorizer():
    for bad, error in [
        ("one string", ValueError),
        (["fine", np.nan], ValueError),
        (["fine", 3], AttributeError),
    ]:
        with pytest.raises(error) as theirs:
            HashingVectorizer().transform(bad)
        with pytest.raises(
            error, match=f"^{theirs.value}$".replace("(", r"\(").replace(")", r"\)")
        ):
            FastHashingVectorizer().transform(bad)


def test_kernel_rejects_other_documents():
    hash_documents = _text.hash_documents
    with pytest.raises(TypeError, match="a str or a list of tokens"):
        hash_documents([3], 16, False)
    with pytest.raises(TypeError, match="beyond ASCII goes as a list of tokens"):
        hash_documents(["été"], 16, False)
    with pytest.raises(TypeError, match="a token is not a str"):
        hash_documents([["fine", b"bytes"]], 16, False)
    with pytest.raises(ValueError, match="n_features"):
        hash_documents(["fine"], 0, False)
    with pytest.raises(TypeError):
        hash_documents(("not", "a list"), 16, False)


@pytest.mark.parametrize("compiled", [True, False])
def test_no_documents(compiled):
    """A clear error, where scikit-learn's code stops with StopIteration."""
    vectorizer = FastHashingVectorizer(ngram_range=(1, 1) if compiled else (1, 2))
    for empty in ([], iter([]), np.array([], dtype=object)):
        with pytest.raises(ValueError, match="No documents to vectorize"):
            vectorizer.transform(empty)


def test_sparse_interface_config():
    if "sparse_interface" not in sklearn.get_config():
        pytest.skip("scikit-learn without the sparse_interface setting")
    with sklearn.config_context(sparse_interface="sparray"):
        X = FastHashingVectorizer().transform(DOCUMENTS)
        assert isinstance(X, sp.sparray)
        assert_same_matrix(X, HashingVectorizer().transform(DOCUMENTS))


def test_tags_as_hashing_vectorizer():
    assert FastHashingVectorizer().__sklearn_tags__() == HashingVectorizer().__sklearn_tags__()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # two epochs
def test_in_a_pipeline_and_pickled():
    docs = ["the rocket went to space", "god and religion", "graphics card and images"] * 10
    y = [0, 1, 2] * 10
    vectorizer = FastHashingVectorizer(n_features=2**10)
    assert clone(vectorizer).get_params() == HashingVectorizer(n_features=2**10).get_params()
    pipe = make_pipeline(
        vectorizer, ProjectionNetClassifier(n_bits=32, max_iter=2, random_state=0)
    ).fit(docs, y)
    loaded = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(loaded.predict(docs), pipe.predict(docs))


@pytest.mark.slow
def test_newsgroups_to_the_bit():
    """Every 20 Newsgroups message, headers included (some beyond ASCII),
    as the 256 KiB pipeline counts them."""
    folder = DATA_DIR / "scikit_learn_data"
    if not folder.is_dir():
        pytest.skip(f"20 Newsgroups not found in {folder}")
    from sklearn.datasets import fetch_20newsgroups

    docs = fetch_20newsgroups(data_home=str(folder), subset="all", download_if_missing=False).data
    assert not all(doc.isascii() for doc in docs)
    params = {"n_features": 2**20, "alternate_sign": False, "norm": None}
    assert_same_matrix(
        FastHashingVectorizer(**params).transform(docs),
        HashingVectorizer(**params).transform(docs),
    )
