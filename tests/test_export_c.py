"""The C export compiles with the system C compiler and predicts what Python
predicts: identical labels on every row, probabilities within 1e-5.

Digits run by default; MNIST, 20 Newsgroups tf-idf and the raw-text front
end on 20 Newsgroups need ``../shared/data`` (or ``$SKLEARN_PNET_DATA``)
and are marked slow.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import DATA_DIR
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer

from sklearn_pnet import (
    FastHashingVectorizer,
    HashedNetClassifier,
    LSHProjector,
    ProjectionNetClassifier,
    _hashing,
)
from sklearn_pnet.export import FORMAT_VERSION, export_c
from sklearn_pnet.export._c import C_DIR

ROOT = Path(__file__).resolve().parents[1]
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
TOPICS = ["alt.atheism", "talk.religion.misc", "comp.graphics", "sci.space"]

pytestmark = [
    pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine"),
    # Short trainings stop at max_iter on purpose.
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def compile_c(sources, binary, *flags):
    done = subprocess.run(
        ["cc", *CFLAGS, *flags, "-o", str(binary), *map(str, sources), "-lm"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return binary


def build(model, out_dir, name="model"):
    """Export ``model`` to ``out_dir`` and compile its main.c."""
    paths = export_c(model, out_dir, name=name)
    return compile_c([p for p in paths if p.suffix == ".c"], out_dir / "classify")


def as_lines(X):
    """One sample a line: dense ``v1,v2,...`` or sparse ``index:value ...``,
    with ``repr`` so that the C program reads the very same doubles."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        rows = (
            zip(X.indices[a:b].tolist(), X.data[a:b].tolist())
            for a, b in zip(X.indptr[:-1], X.indptr[1:])
        )
        return "".join(" ".join(f"{j}:{v!r}" for j, v in row) + "\n" for row in rows)
    return "".join(",".join(map(repr, row)) + "\n" for row in np.asarray(X).tolist())


def run(binary, lines, *flags):
    done = subprocess.run(
        [str(binary), *flags], input=lines.encode(), capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().splitlines()


def c_predict(binary, X, text=False):
    lines = X if text else as_lines(X)
    flags = ["--text"] if text else []
    labels = np.array([int(line) for line in run(binary, lines, *flags)])
    proba = np.array(
        [[float(v) for v in line.split(",")] for line in run(binary, lines, "--proba", *flags)]
    )
    return labels, proba


def assert_same_predictions(model, binary, X):
    labels, proba = c_predict(binary, X)
    np.testing.assert_array_equal(model.classes_[labels], model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)


def c_bits(binary, X):
    return np.array([[int(b) for b in line.split(",")] for line in run(binary, as_lines(X))])


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


# Every storage form, and each projection (trained or random, dense or
# sparse), each with and without a hidden layer somewhere.
PNET_CASES = {
    "int8": {},
    "float32": {"weight_dtype": "float32"},
    "float16-hidden": {"weight_dtype": "float16", "hidden_layer_sizes": (16,)},
    "kmeans": {"weight_clusters": 16},
    "pruned-int8-hidden": {"sparsity": 0.5, "hidden_layer_sizes": (16,)},
    "pruned-kmeans": {"sparsity": 0.5, "weight_clusters": 8},
    "trained-dense-projection": {"density": 1.0},
    "random-sparse": {"projection": "random", "hidden_layer_sizes": (16,)},
    "random-dense": {"projection": "random", "density": 1.0, "weight_dtype": "float16"},
    "linear-path": {"linear_buckets": 40},
    "linear-path-hidden": {"linear_buckets": 200, "hidden_layer_sizes": (16,)},
}


@pytest.mark.parametrize("case", list(PNET_CASES))
def test_projection_net_digits(case, digits, tmp_path):
    X, y = digits
    clf = ProjectionNetClassifier(n_bits=64, max_iter=2, random_state=0, **PNET_CASES[case]).fit(
        X, y
    )
    binary = build(clf, tmp_path)
    assert_same_predictions(clf, binary, X)
    assert_same_predictions(clf, binary, sp.csr_matrix(X))


@pytest.mark.parametrize("density", ["auto", 1.0])
def test_lsh_projector_bits(density, digits, tmp_path):
    X, _ = digits
    projector = LSHProjector(n_bits=100, density=density, random_state=0).fit(X)
    binary = build(projector, tmp_path)
    np.testing.assert_array_equal(c_bits(binary, X), projector.transform(X))
    np.testing.assert_array_equal(
        c_bits(binary, sp.csr_matrix(X)), projector.transform(sp.csr_matrix(X))
    )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"hash_bias": True, "weight_dtype": "int8"},
        {"weight_clusters": 8, "hidden_layer_sizes": (16, 8)},
        {"weight_dtype": "float32"},
    ],
    ids=["float16", "int8-hashbias", "kmeans-2-hidden", "float32"],
)
def test_hashed_net_digits(params, digits, tmp_path):
    X, y = digits
    params = {"hidden_layer_sizes": (32,), **params}
    clf = HashedNetClassifier(max_iter=2, random_state=0, **params).fit(X, y)
    binary = build(clf, tmp_path)
    assert_same_predictions(clf, binary, X)
    assert_same_predictions(clf, binary, sp.csr_matrix(X))


def test_export_keeps_compact_forms(digits, tmp_path):
    X, y = digits
    clf = ProjectionNetClassifier(n_bits=64, max_iter=1, weight_clusters=4, random_state=0).fit(
        X, y
    )
    source = next(p for p in export_c(clf, tmp_path) if p.name == "model.c").read_text()
    # k-means: 2-bit codes in bit planes and 4 centroids, no decoded matrix.
    assert "model_layer0_w_planes[160]" in source and "model_layer0_w_centroids[4]" in source
    assert f"format version {FORMAT_VERSION}" in source
    assert "#define MODEL_SCRATCH_DOUBLES 192" in (tmp_path / "model.h").read_text()


HASH_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include "pnet_hash.h"
int main(int argc, char **argv) {
    uint32_t seed = (uint32_t)strtoul(argv[1], NULL, 10), bit, bucket;
    unsigned long j, k;
    int sign;
    (void)argc;
    for (j = 0; j < 5; j++) {
        for (k = 0; k < 70; k++) {
            printf("%llu %d ", (unsigned long long)pnet_pair_hash(seed, 1 + k % 4, j * 977, k),
                   pnet_dense_sign(seed, j, k));
            pnet_sparse_slot(seed, j, k, 1000, &bit, &sign);
            printf("%lu %d ", (unsigned long)bit, sign);
            pnet_hashed_entry(seed, j, k, 77, &bucket, &sign);
            printf("%lu %d %lu\n", (unsigned long)bucket, sign,
                   (unsigned long)pnet_projection_bucket(seed, j, k, 70, 1000, 333));
        }
    }
    return 0;
}
"""


@pytest.mark.parametrize("seed", [0, 12345, 2**32 - 1])
def test_c_hash_equals_python(seed, tmp_path):
    (tmp_path / "hash_test.c").write_text(HASH_PROGRAM)
    # The package's own pnet_hash.c and .h, compiled as they are shipped.
    binary = compile_c(
        [tmp_path / "hash_test.c", C_DIR / "pnet_hash.c"], tmp_path / "hash_test", "-I", str(C_DIR)
    )
    got = np.array([[int(v) for v in line.split()] for line in run(binary, "", str(seed))], object)
    j, k = np.divmod(np.arange(350), 70)
    expected_hash = [
        _hashing.pair_hashes(seed, 1 + kk % 4, [jj * 977], kk + 1)[0, kk] for jj, kk in zip(j, k)
    ]
    np.testing.assert_array_equal(got[:, 0].astype(np.uint64), expected_hash)
    dense = _hashing.dense_signs(seed, np.arange(5), 70).ravel()
    np.testing.assert_array_equal(got[:, 1].astype(np.int64), dense)
    bits, signs = _hashing.sparse_slots(seed, np.arange(5), 1000, 70)
    np.testing.assert_array_equal(got[:, 2].astype(np.int64), bits.ravel())
    np.testing.assert_array_equal(got[:, 3].astype(np.int64), signs.ravel())
    buckets, signs = _hashing.hashed_buckets(seed, np.arange(5), 70, 77)
    np.testing.assert_array_equal(got[:, 4].astype(np.int64), buckets.ravel())
    np.testing.assert_array_equal(got[:, 5].astype(np.int64), signs.ravel())
    _, _, buckets = _hashing.projection_structure(seed, np.arange(5), 1000, 70, 333, 1000)
    np.testing.assert_array_equal(got[:, 6].astype(np.int64), buckets.ravel())


def test_streams_and_docs_are_the_compiled_hash():
    header = (C_DIR / "pnet_hash.h").read_text()
    for stream in ["DENSE", "SPARSE", "HASHED", "PROJECTION_WEIGHT", "LINEAR"]:
        value = re.search(rf"#define PNET_STREAM_{stream} (\d+)u", header).group(1)
        assert int(value) == getattr(_hashing, f"STREAM_{stream}")
    # DEVICE.md shows pnet_hash.c itself: one source of truth.
    device = (ROOT / "DEVICE.md").read_text()
    block = re.search(r"<!-- pnet_hash.c -->\n```c\n(.*?)```", device, re.DOTALL).group(1)
    assert block == (C_DIR / "pnet_hash.c").read_text()
    assert "sklearn_pnet/export/c/pnet_hash.c" in _hashing.__doc__


TEXTS = [
    "Hello, World! hello world_wide 42 a I x1 __init__ e-mail CAPS",
    "",
    "   ",
    "one",
    "Repeated repeated REPEATED token; the the the the.",
    "tabs\tand\rcarriage returns, digits 1234567890 and under_scores",
    "caf\u00e9 na\u00efve \u00fcber r\u00e9sum\u00e9 \u4e2d\u6587\u5b57",  # lowercase non-ASCII
]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_features": 2**10, "alternate_sign": False},
        {"n_features": 97, "norm": "l1", "binary": True},
        {"n_features": 2**12, "norm": None},
    ],
    ids=["defaults", "no-sign", "l1-binary", "no-norm"],
)
def test_text_front_end_matches_hashing_vectorizer(params, digits, tmp_path):
    vectorizer = HashingVectorizer(**params)
    X = vectorizer.transform(TEXTS)
    projector = LSHProjector(n_bits=8, random_state=0).fit(X)
    binary = build(make_pipeline(vectorizer, projector), tmp_path)
    _check_features(binary, X)


SUBLINEAR_STEPS = {
    "tfidf-sublinear-l2": lambda: [TfidfTransformer(use_idf=False, sublinear_tf=True)],
    "tfidf-sublinear-l1": lambda: [TfidfTransformer(use_idf=False, sublinear_tf=True, norm="l1")],
    "tfidf-sublinear": lambda: [TfidfTransformer(use_idf=False, sublinear_tf=True, norm=None)],
    "tfidf-l2": lambda: [TfidfTransformer(use_idf=False)],
    "log1p-l2": lambda: [FunctionTransformer(np.log1p), Normalizer()],
    "log1p-l1": lambda: [FunctionTransformer(np.log1p), Normalizer(norm="l1")],
    "log1p": lambda: [FunctionTransformer(np.log1p)],
}


@pytest.mark.parametrize("steps", list(SUBLINEAR_STEPS))
def test_text_front_end_matches_sublinear_counts(steps, tmp_path):
    """HashingVectorizer's raw counts, then TfidfTransformer(use_idf=False)
    (1 + log(count)) or log1p, and a norm, as the compact text pipelines use
    them; the steps may sit in a nested pipeline."""
    hashing = make_pipeline(
        HashingVectorizer(n_features=2**12, norm=None, alternate_sign=False),
        *SUBLINEAR_STEPS[steps](),
    )
    # Counts of 1, 2, 3 and more (log1p(2) is where libm's log1p and numpy's differ).
    repeated = [f"{text} {text} rocket rocket rocket" for text in TEXTS]
    X = hashing.fit_transform(repeated)
    projector = LSHProjector(n_bits=8, random_state=0).fit(X)
    binary = build(make_pipeline(hashing, projector), tmp_path)
    _check_features(binary, X, repeated)


def _check_features(binary, X, texts=TEXTS):
    """The C front end's rows of ``texts`` are ``X``'s, to the bit."""
    lines = "".join(text.replace("\r", " ") + "\n" for text in texts)
    for i, line in enumerate(run(binary, lines, "--features")):
        pairs = [pair.split(":") for pair in line.split()]
        np.testing.assert_array_equal([int(j) for j, _ in pairs], X[i].indices)
        np.testing.assert_array_equal([float(v) for _, v in pairs], X[i].data)


@pytest.mark.parametrize("vectorizer", [HashingVectorizer, FastHashingVectorizer])
def test_text_pipeline_labels(vectorizer, tmp_path):
    """FastHashingVectorizer exports as the HashingVectorizer it is."""
    texts = ["the rocket went to space", "god and religion", "graphics card and images"] * 10
    y = [0, 1, 2] * 10
    pipe = make_pipeline(
        vectorizer(),
        ProjectionNetClassifier(n_bits=32, max_iter=2, loss_weights=(0, 0, 1), random_state=0),
    ).fit(texts, y)
    labels, proba = c_predict(build(pipe, tmp_path), "".join(t + "\n" for t in texts), text=True)
    np.testing.assert_array_equal(pipe.classes_[labels], pipe.predict(texts))
    np.testing.assert_allclose(proba, pipe.predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize("steps", ["tfidf-sublinear-l2", "log1p-l2"])
def test_sublinear_text_pipeline_labels(steps, tmp_path):
    """The compact long-text pipelines' forms (raw counts, a logarithm, l2):
    the C classifier's labels and probabilities are Python's."""
    texts = ["the rocket rocket went to space", "god and religion and god", "graphics card"] * 10
    y = [0, 1, 2] * 10
    pipe = make_pipeline(
        HashingVectorizer(n_features=2**12, norm=None, alternate_sign=False),
        *SUBLINEAR_STEPS[steps](),
        ProjectionNetClassifier(n_bits=32, max_iter=2, random_state=0),
    ).fit(texts, y)
    labels, proba = c_predict(build(pipe, tmp_path), "".join(t + "\n" for t in texts), text=True)
    np.testing.assert_array_equal(pipe.classes_[labels], pipe.predict(texts))
    np.testing.assert_allclose(proba, pipe.predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_path_text_pipeline(n_classes, tmp_path):
    """A linear path beside the bits, after the 128 KiB pipeline's front
    end: the C classifier's labels and probabilities are Python's, for one
    score (two classes) and one a class."""
    texts = ["the rocket rocket went to space", "god and religion and god", "graphics card"] * 10
    y = ([0, 1, 1] if n_classes == 2 else [0, 1, 2]) * 10
    pipe = make_pipeline(
        HashingVectorizer(n_features=2**12, norm=None, alternate_sign=False),
        *SUBLINEAR_STEPS["log1p-l2"](),
        ProjectionNetClassifier(n_bits=32, linear_buckets=50, max_iter=2, random_state=0),
    ).fit(texts, y)
    assert pipe[-1].linear_path_ is not None
    labels, proba = c_predict(build(pipe, tmp_path), "".join(t + "\n" for t in texts), text=True)
    np.testing.assert_array_equal(pipe.classes_[labels], pipe.predict(texts))
    np.testing.assert_allclose(proba, pipe.predict_proba(texts), atol=1e-5)


def test_unsupported_models_say_why(digits, tmp_path):
    X, y = digits
    clf = ProjectionNetClassifier(n_bits=16, max_iter=1, random_state=0).fit(X, y)
    with pytest.raises(NotImplementedError, match="HashingVectorizer with ngram_range"):
        export_c(make_pipeline(HashingVectorizer(n_features=64, ngram_range=(1, 2)), clf), tmp_path)
    with pytest.raises(NotImplementedError, match="optional HashingVectorizer"):
        export_c(make_pipeline(TfidfVectorizer(), clf), tmp_path)
    with pytest.raises(ValueError, match="C identifier"):
        export_c(clf, tmp_path, name="my-model")
    raw = HashingVectorizer(n_features=64, norm=None, alternate_sign=False)
    with pytest.raises(NotImplementedError, match="use_idf=False only"):
        export_c(make_pipeline(raw, TfidfTransformer(), clf), tmp_path)
    with pytest.raises(NotImplementedError, match="got the steps"):
        export_c(make_pipeline(raw, FunctionTransformer(np.sqrt), clf), tmp_path)
    with pytest.raises(NotImplementedError, match="got the steps"):
        export_c(make_pipeline(raw, Normalizer(), clf), tmp_path)
    for vectorizer in (
        HashingVectorizer(n_features=64),
        HashingVectorizer(n_features=64, norm=None),
    ):
        with pytest.raises(NotImplementedError, match="norm=None, alternate_sign=False"):
            export_c(
                make_pipeline(vectorizer, TfidfTransformer(use_idf=False, sublinear_tf=True), clf),
                tmp_path,
            )


def test_command_line_builds_with_plain_cc(digits, tmp_path):
    """The README's commands: dump, export, ``cc -O2 -o classify OUT/*.c -lm``."""
    X, y = digits
    clf = ProjectionNetClassifier(n_bits=32, max_iter=1, random_state=0).fit(X, y)
    joblib.dump(clf, tmp_path / "model.joblib")
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, "-m", "sklearn_pnet.export", str(tmp_path / "model.joblib"), str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    subprocess.run(f"cc -O2 -o {tmp_path}/classify {out}/*.c -lm", shell=True, check=True)
    labels = run(tmp_path / "classify", as_lines(X[:50]))
    np.testing.assert_array_equal(clf.classes_[np.array(labels, dtype=int)], clf.predict(X[:50]))


# ---- real data (slow) ---------------------------------------------------------


def fetch_newsgroups(subset):
    folder = DATA_DIR / "scikit_learn_data"
    if not folder.is_dir():
        pytest.skip(f"20 Newsgroups not found in {folder}")
    from sklearn.datasets import fetch_20newsgroups

    return fetch_20newsgroups(
        data_home=str(folder), subset=subset, categories=TOPICS, download_if_missing=False
    )


@pytest.fixture(scope="module")
def newsgroups_tfidf():
    train, test = fetch_newsgroups("train"), fetch_newsgroups("test")
    vectorizer = TfidfVectorizer().fit(train.data)
    return vectorizer.transform(train.data), train.target, vectorizer.transform(test.data)


REAL_CASES = [
    "int8",
    "float16-hidden",
    "kmeans",
    "pruned-int8-hidden",
    "trained-dense-projection",
    "random-sparse",
    "random-dense",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", REAL_CASES)
def test_mnist_subset(case, mnist_subset, tmp_path):
    X, y, X_test = mnist_subset
    params = {"max_iter": 2, "random_state": 0, "n_bits": 256, **PNET_CASES[case]}
    clf = ProjectionNetClassifier(**params).fit(X, y)
    assert_same_predictions(clf, build(clf, tmp_path), X_test)


@pytest.mark.slow
@pytest.mark.parametrize("case", REAL_CASES)
def test_newsgroups_tfidf(case, newsgroups_tfidf, tmp_path):
    X, y, X_test = newsgroups_tfidf
    params = {"max_iter": 2, "random_state": 0, "n_bits": 256, **PNET_CASES[case]}
    clf = ProjectionNetClassifier(**params).fit(X, y)
    assert_same_predictions(clf, build(clf, tmp_path), X_test)


@pytest.mark.slow
def test_hashed_net_mnist_and_newsgroups(mnist_subset, newsgroups_tfidf, tmp_path):
    for i, (X, y, X_test) in enumerate([mnist_subset, newsgroups_tfidf]):
        clf = HashedNetClassifier((64,), compression=1 / 64, max_iter=2, random_state=0).fit(X, y)
        assert_same_predictions(clf, build(clf, tmp_path / str(i)), X_test[:300])


@pytest.mark.slow
@pytest.mark.parametrize("density", ["auto", 1.0])
def test_projection_bits_real_data(density, mnist_subset, newsgroups_tfidf, tmp_path):
    """Bits are where C and numpy could part (a sum within rounding of its
    threshold): none does on these test sets."""
    for i, (X, _, X_test) in enumerate([mnist_subset, newsgroups_tfidf]):
        projector = LSHProjector(n_bits=256, density=density, random_state=0).fit(X)
        bits = c_bits(build(projector, tmp_path / str(i)), X_test)
        np.testing.assert_array_equal(bits, projector.transform(X_test))


@pytest.mark.slow
@pytest.mark.parametrize("front_end", ["hashing", "hashing-log1p"])
def test_text_front_end_newsgroups(front_end, tmp_path):
    """Raw 20 Newsgroups text through HashingVectorizer's defaults, and
    through the compact pipelines' front end (raw counts, log1p, l2) with
    their LZMA-coded linear path."""
    train, test = fetch_newsgroups("train"), fetch_newsgroups("test")
    steps, params = [HashingVectorizer()], {}
    if front_end == "hashing-log1p":
        raw = HashingVectorizer(n_features=2**20, norm=None, alternate_sign=False)
        steps, params = [raw, *SUBLINEAR_STEPS["log1p-l2"]()], {"linear_buckets": 3000}
    clf = ProjectionNetClassifier(
        n_bits=256, max_iter=2, loss_weights=(0, 0, 1), random_state=0, **params
    )
    pipe = make_pipeline(*steps, clf).fit(train.data, train.target)
    binary = build(pipe, tmp_path)
    # One document a line: its line breaks are separators, as spaces are.
    lines = "".join(re.sub(r"[\r\n]", " ", doc) + "\n" for doc in test.data)
    X = pipe[:-1].transform(test.data)
    is_ascii = np.array([doc.isascii() for doc in test.data])
    for i, line in enumerate(run(binary, lines, "--features")):
        if is_ascii[i]:
            pairs = [pair.split(":") for pair in line.split()]
            np.testing.assert_array_equal([int(j) for j, _ in pairs], X[i].indices)
            np.testing.assert_array_equal([float(v) for _, v in pairs], X[i].data)
    labels, proba = c_predict(binary, lines, text=True)
    expected = pipe.predict(test.data)
    np.testing.assert_array_equal(pipe.classes_[labels][is_ascii], expected[is_ascii])
    np.testing.assert_allclose(proba[is_ascii], pipe.predict_proba(test.data)[is_ascii], atol=1e-5)
