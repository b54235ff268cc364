"""What linear models reach on the compact 20 Newsgroups pipelines' features.

Issue #16 asks the fully compact pipeline (``HashingVectorizer`` ->
``ProjectionNetClassifier``) for 82% test accuracy within 128 KiB and 85%
within 256 KiB. This script measures, on the "latest" validation split only
(``validation.py``; the test split is not read), what linear models reach
on the same hashed words, and what a compact linear model would weigh::

    python benchmarks/linear_ceiling.py --data-dir ../shared/data

One line per model:

- ``LinearSVC`` on the 2**20 hashed columns: sublinear counts (the 128 KiB
  target's features), with idf weights, with word bigrams;
- the same words folded into ``B`` signed buckets (a random hash, as
  ``HashingVectorizer(n_features=B)`` would), idf of the buckets, and a
  ``LinearSVC`` whose ``B x 20`` coefficients are then stored as 8 or 16
  k-means values (3 or 4 bits each: ``B * 20 * 3 / 8`` bytes at 8 values),
  or a ``LogisticRegression``;
- at ``B = 16,384``, one linear layer trained by torch for 40 epochs
  (batches of 200) with Adam or SGD (momentum 0.9), cross-entropy or the
  multi-class hinge: whether the optimiser or the loss makes the gap
  between a network's linear layer and liblinear's solution;
- with ``--bits``, the 128 KiB layout of ``targets.py`` fitted on the same
  split, and liblinear's heads (``LinearSVC``, ``LogisticRegression``) refitted
  on its 512 bits in place of its student: whether the student's solver
  is what the bits lack;
- with ``--combined``, the sum of a small ProjectionNet's log-probabilities
  (512 bits, 60,000 or 130,000 3-bit weights, student alone) and ``a`` times
  the decision values of the 8-value ``LinearSVC`` on 8,000 or 12,000 buckets,
  for a few ``a`` (chosen here on the validation split itself, so an upper
  bound): what a linear path fitted by liblinear beside the bits would give;
- with ``--stacked``, the same sum with ``a`` chosen without the validation
  split: both models fitted on 90% of the fitting part, ``a`` picked on the
  other 10% (stratified, seed 0), then both refitted on the whole fitting
  part and scored with that ``a``;
- with ``--normalisation``, the 8-value ``LinearSVC`` on the buckets of the
  pipeline's own input (L2-normalised sublinear counts) with the bucket idf
  and a second L2 normalisation, with the idf but no second normalisation
  (so that the idf could be folded into the coefficients), and with neither,
  at C = 0.3, 1 and 3: what the path's prediction has to compute;
- with ``--coding``, the library's path (its fold, three seeds, 20,000 and
  40,000 buckets, C = 0.3 and 1) with its coefficients as 8 or 16 k-means
  values: accuracy, and the bytes of the codes packed (3 or 4 bits) and
  LZMA-coded (``ClusteredArray(compress=True)``, the path's storage: a
  bucket's codes together; and a class's together, as first stored), the
  bytes the codes' entropy would take and the share of the commonest code;
- with ``--families``, other linear models (``LinearSVC`` at four C,
  ``RidgeClassifier``, ``SGDClassifier``, ``ComplementNB``,
  ``MultinomialNB``) on the exact idf-weighted 2**20 columns: the ceiling
  of any path on these words.

VALIDATION.md ("Accuracy per byte: the linear ceiling") lists what it gave.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.validation import latest_split

N_COLUMNS = 2**20


def sublinear_counts(documents, ngram_range=(1, 1)):
    """log1p of hashed word counts, before any normalisation."""
    vectorizer = HashingVectorizer(
        n_features=N_COLUMNS, alternate_sign=False, norm=None, ngram_range=ngram_range
    )
    counts = vectorizer.transform(documents).astype(np.float64)
    counts.data = np.log1p(counts.data)
    return counts


def idf_of(X):
    """scikit-learn's smoothed idf of each column of ``X``."""
    df = np.bincount(X.indices, minlength=X.shape[1])
    return np.log((1 + X.shape[0]) / (1 + df)) + 1


def scaled(X, idf):
    return normalize(X @ sp.diags(idf)) if idf is not None else normalize(X)


def svc_accuracy(X_fit, y_fit, X_val, y_val):
    return LinearSVC(random_state=0).fit(X_fit, y_fit).score(X_val, y_val)


def quantized_accuracy(model, X_val, y_val, n_values):
    """Accuracy of ``model`` with its coefficients replaced by their nearest
    of ``n_values`` k-means values (the model is restored)."""
    coef = model.coef_.copy()
    kmeans = KMeans(n_values, n_init=1, random_state=0).fit(coef.reshape(-1, 1))
    model.coef_ = kmeans.cluster_centers_[kmeans.labels_].reshape(coef.shape)
    accuracy = model.score(X_val, y_val)
    model.coef_ = coef
    return accuracy


def bucket_matrix(n_buckets, seed=0):
    """The (2**20, n_buckets) matrix folding each column into one bucket with
    a random sign."""
    rng = np.random.default_rng(seed)
    bucket = rng.integers(0, n_buckets, N_COLUMNS)
    sign = rng.choice([-1.0, 1.0], N_COLUMNS)
    return sp.csr_matrix((sign, (np.arange(N_COLUMNS), bucket)), shape=(N_COLUMNS, n_buckets))


def torch_linear_accuracies(X_fit, y_fit, X_val, y_val, solver, loss, epochs=40):
    """Validation accuracy every 10 epochs of one linear layer trained by
    torch (weights and bias from zero, batches of 200, one thread)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.manual_seed(0)
    n_classes = int(y_fit.max()) + 1
    weight = torch.zeros(X_fit.shape[1], n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    if solver == "adam":
        optimizer = torch.optim.Adam([weight, bias], lr=0.001)
    else:
        optimizer = torch.optim.SGD([weight, bias], lr=1.0, momentum=0.9)
    loss_function = F.multi_margin_loss if loss == "hinge" else F.cross_entropy
    X_fit, X_val = (
        X_fit.tocsr().astype(np.float32),
        torch.tensor(X_val.toarray(), dtype=torch.float32),
    )
    y_fit_t, y_val_t = torch.tensor(y_fit), torch.tensor(y_val)
    rng, accuracies = np.random.default_rng(0), []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(X_fit.shape[0])
        for start in range(0, len(order), 200):
            batch = order[start : start + 200]
            logits = torch.tensor(X_fit[batch].toarray()) @ weight + bias
            optimizer.zero_grad()
            loss_function(logits, y_fit_t[batch]).backward()
            optimizer.step()
        if epoch % 10 == 0:
            with torch.no_grad():
                predicted = (X_val @ weight + bias).argmax(1)
            accuracies.append(f"{epoch}: {(predicted == y_val_t).float().mean().item():.4f}")
    return ", ".join(accuracies)


def heads_on_bits(docs_fit, y_fit, docs_val, y_val, report):
    """The 128 KiB layout's student against liblinear heads on its bits."""
    import warnings

    from benchmarks.validation import VECTORIZERS
    from sklearn_pnet import ProjectionNetClassifier

    vectorizer = VECTORIZERS["hashing-sublinear"]()
    X_fit, X_val = vectorizer.fit_transform(docs_fit), vectorizer.transform(docs_val)
    model = ProjectionNetClassifier(
        n_bits=512, n_weights=320_000, early_stopping=True, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_fit, y_fit)
    report("128 KiB layout, its own student", model.score(X_val, y_val))
    bits_fit = model.projector_.transform(X_fit).astype(np.float64)
    bits_val = model.projector_.transform(X_val).astype(np.float64)
    for C in (0.01, 0.1, 1.0):
        head = LinearSVC(C=C, random_state=0).fit(bits_fit, y_fit)
        report(
            f"128 KiB layout's bits, LinearSVC(C={C}) (training accuracy "
            f"{head.score(bits_fit, y_fit):.4f})",
            head.score(bits_val, y_val),
        )
    for C in (0.1, 1.0, 10.0):
        head = LogisticRegression(C=C, max_iter=2000).fit(bits_fit, y_fit)
        report(f"128 KiB layout's bits, LogisticRegression(C={C})", head.score(bits_val, y_val))


def quantized_linear_path(counts_fit, y_fit, counts_val, n_buckets, n_values=8):
    """Decision values on the validation rows of a ``LinearSVC`` fitted on
    ``n_buckets`` idf-weighted buckets, its coefficients k-means-coded."""
    fold = bucket_matrix(n_buckets)
    buckets_fit, buckets_val = counts_fit @ fold, counts_val @ fold
    idf = idf_of(buckets_fit)
    svc = LinearSVC(random_state=0).fit(scaled(buckets_fit, idf), y_fit)
    coef = svc.coef_
    kmeans = KMeans(n_values, n_init=1, random_state=0).fit(coef.reshape(-1, 1))
    svc.coef_ = kmeans.cluster_centers_[kmeans.labels_].reshape(coef.shape)
    return svc.decision_function(scaled(buckets_val, idf))


def bits_plus_linear(docs_fit, y_fit, docs_val, y_val, counts, report):
    """A small ProjectionNet's log-probabilities plus ``a`` times a
    quantized linear path's decision values."""
    import warnings

    from benchmarks.validation import VECTORIZERS
    from sklearn_pnet import ProjectionNetClassifier, model_size_bytes

    paths = {}
    for n_buckets in (8_000, 12_000):
        paths[n_buckets] = quantized_linear_path(counts[0], y_fit, counts[1], n_buckets)
        report(
            f"linear path alone, {n_buckets:,} buckets, 8 values "
            f"({n_buckets * 20 * 3 // 8:,} bytes of codes)",
            float(np.mean(paths[n_buckets].argmax(1) == y_val)),
        )
    vectorizer = VECTORIZERS["hashing-sublinear"]()
    X_fit, X_val = vectorizer.fit_transform(docs_fit), vectorizer.transform(docs_val)
    for n_weights in (60_000, 130_000):
        model = ProjectionNetClassifier(
            n_bits=512, n_weights=n_weights, early_stopping=True, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_fit, y_fit)
        log_proba = np.log(np.clip(model.predict_proba(X_val), 1e-12, None))
        report(
            f"512 bits, {n_weights:,} weights ({model_size_bytes(model)['total']:,} bytes) alone",
            float(np.mean(log_proba.argmax(1) == y_val)),
        )
        for n_buckets, decision in paths.items():
            report(
                f"  + linear path, {n_buckets:,} buckets, a = 1 / 2 / 4 / 8",
                " / ".join(
                    f"{np.mean((log_proba + a * decision).argmax(1) == y_val):.4f}"
                    for a in (1, 2, 4, 8)
                ),
            )


def stacked(docs_fit, y_fit, docs_val, y_val, counts, report, n_buckets=8_000, n_weights=60_000):
    """Bits plus a linear path, the path's weight ``a`` chosen on a held-out
    10% of the fitting part."""
    import warnings

    from sklearn.model_selection import train_test_split

    from benchmarks.validation import VECTORIZERS
    from sklearn_pnet import ProjectionNetClassifier

    vectorizer = VECTORIZERS["hashing-sublinear"]()
    X_fit, X_val = vectorizer.fit_transform(docs_fit), vectorizer.transform(docs_val)
    counts_fit, counts_val = counts

    def log_proba_and_decision(train, test):
        """Both models fitted on the rows ``train``, applied to ``test``."""
        model = ProjectionNetClassifier(
            n_bits=512, n_weights=n_weights, early_stopping=True, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(train[0], train[2])
        log_proba = np.log(np.clip(model.predict_proba(test[0]), 1e-12, None))
        decision = quantized_linear_path(train[1], train[2], test[1], n_buckets)
        return log_proba, decision

    inner, held = train_test_split(
        np.arange(len(y_fit)), test_size=0.1, random_state=0, stratify=y_fit
    )
    log_proba, decision = log_proba_and_decision(
        (X_fit[inner], counts_fit[inner], y_fit[inner]), (X_fit[held], counts_fit[held])
    )
    scores = {
        a: np.mean((log_proba + a * decision).argmax(1) == y_fit[held]) for a in (1, 2, 4, 8, 16)
    }
    a = max(scores, key=scores.get)
    log_proba, decision = log_proba_and_decision((X_fit, counts_fit, y_fit), (X_val, counts_val))
    report(
        f"512 bits, {n_weights:,} weights + linear path, {n_buckets:,} buckets, a = {a} "
        f"(held-out accuracy {scores[a]:.4f})",
        float(np.mean((log_proba + a * decision).argmax(1) == y_val)),
    )


def normalisation_variants(counts, y_fit, y_val, report):
    """The 8-value path with and without the idf and its normalisation."""
    from sklearn.preprocessing import normalize

    inputs = normalize(counts[0]), normalize(counts[1])  # as the pipeline's input
    for n_buckets in (8_000, 16_384):
        fold = bucket_matrix(n_buckets)
        buckets_fit, buckets_val = inputs[0] @ fold, inputs[1] @ fold
        idf = sp.diags(idf_of(buckets_fit))
        variants = {
            "idf, normalised": (normalize(buckets_fit @ idf), normalize(buckets_val @ idf)),
            "idf, not normalised": (buckets_fit @ idf, buckets_val @ idf),
            "no idf, not normalised": (buckets_fit, buckets_val),
        }
        for name, (X_fit, X_val) in variants.items():
            accuracies = []
            for C in (0.3, 1.0, 3.0):
                svc = LinearSVC(C=C, random_state=0).fit(X_fit, y_fit)
                accuracies.append(f"{quantized_accuracy(svc, X_val, y_val, 8):.4f}")
            report(
                f"{n_buckets:,} buckets, {name}, 8 values, C = 0.3 / 1 / 3", " / ".join(accuracies)
            )


def coding_variants(docs_fit, y_fit, docs_val, y_val, report):
    """The path's coefficients stored as 8 or 16 k-means values, packed or
    LZMA-coded, at C = 0.3 and 1, over three seeds of the library's fold."""
    from benchmarks.validation import VECTORIZERS
    from sklearn_pnet._linear_path import _scaled, fold
    from sklearn_pnet._storage import ClusteredArray, _compress_codes

    vectorizer = VECTORIZERS["hashing-sublinear"]()
    X_fit, X_val = vectorizer.fit_transform(docs_fit), vectorizer.transform(docs_val)
    for n_buckets in (20_000, 40_000):
        for seed in (0, 1, 2):
            folded_fit, folded_val = fold(X_fit, seed, n_buckets), fold(X_val, seed, n_buckets)
            idf = np.asarray(ClusteredArray(idf_of(folded_fit), 16), dtype=np.float64)
            Z_fit, Z_val = _scaled(folded_fit, idf), _scaled(folded_val, idf)
            for C in (0.3, 1.0):
                svc = LinearSVC(C=C, random_state=0).fit(Z_fit, y_fit)
                line = [f"float {svc.score(Z_val, y_val):.4f}"]
                for n_values in (8, 16):
                    stored = ClusteredArray(svc.coef_, n_values, compress=True)
                    scores = Z_val @ np.asarray(stored, dtype=np.float64).T + svc.intercept_
                    accuracy = np.mean(scores.argmax(1) == y_val)
                    packed = svc.coef_.size * (n_values.bit_length() - 1) // 8
                    codes = stored.codes()
                    share = np.bincount(codes) / svc.coef_.size
                    row_by_row = len(_compress_codes(codes, stored.n_code_bits))
                    entropy = -(share[share > 0] * np.log2(share[share > 0])).sum()
                    line.append(
                        f"{n_values} values {accuracy:.4f} "
                        f"({packed:,} bytes packed, {len(stored.lzma_codes):,} LZMA-coded "
                        f"a bucket at a time, {row_by_row:,} a class at a time, "
                        f"{entropy * svc.coef_.size / 8:,.0f} at the codes' entropy; "
                        f"commonest code {share.max():.0%})"
                    )
                report(f"{n_buckets:,} buckets, fold seed {seed}, C = {C}", "; ".join(line))


def model_families(counts, idf, y_fit, y_val, report):
    """Other linear models on the exact 2**20 columns, idf-weighted sublinear
    counts (the path's ceiling, without buckets or quantization)."""
    from sklearn.linear_model import RidgeClassifier, SGDClassifier
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    X_fit, X_val = scaled(counts[0], idf), scaled(counts[1], idf)
    models = {f"LinearSVC(C={C})": LinearSVC(C=C, random_state=0) for C in (0.1, 0.3, 1.0, 3.0)}
    models["RidgeClassifier"] = RidgeClassifier(solver="sparse_cg")
    models["SGDClassifier(alpha=1e-5)"] = SGDClassifier(alpha=1e-5, random_state=0)
    models["SGDClassifier(modified_huber)"] = SGDClassifier(
        loss="modified_huber", alpha=1e-5, random_state=0
    )
    models["ComplementNB(alpha=0.1)"] = ComplementNB(alpha=0.1)
    models["MultinomialNB(alpha=0.01)"] = MultinomialNB(alpha=0.01)
    for name, model in models.items():
        accuracy = model.fit(X_fit, y_fit).score(X_val, y_val)
        report(f"2**20 columns, sublinear, idf, {name}", accuracy)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch runs")
    parser.add_argument("--bits", action="store_true", help="liblinear heads on fitted bits")
    parser.add_argument("--combined", action="store_true", help="bits plus a liblinear path")
    parser.add_argument("--stacked", action="store_true", help="the same, a chosen held-out")
    parser.add_argument("--normalisation", action="store_true", help="what the path computes")
    parser.add_argument("--coding", action="store_true", help="how the path's codes are stored")
    parser.add_argument("--families", action="store_true", help="other linear models, exact")
    args = parser.parse_args(argv)
    data = datasets.load("20news", args.data_dir)
    docs_fit, docs_val, y_fit, y_val = latest_split(data)
    classes, y_fit = np.unique(y_fit, return_inverse=True)
    y_val = np.searchsorted(classes, y_val)
    counts_fit, counts_val = sublinear_counts(docs_fit), sublinear_counts(docs_val)
    idf = idf_of(counts_fit)

    def report(name, accuracy):
        print(f"{name}: {accuracy if isinstance(accuracy, str) else f'{accuracy:.4f}'}", flush=True)

    with threadpool_limits(1):
        if args.bits:
            heads_on_bits(docs_fit, y_fit, docs_val, y_val, report)
        if args.combined:
            bits_plus_linear(docs_fit, y_fit, docs_val, y_val, (counts_fit, counts_val), report)
        if args.stacked:
            stacked(docs_fit, y_fit, docs_val, y_val, (counts_fit, counts_val), report)
        if args.normalisation:
            normalisation_variants((counts_fit, counts_val), y_fit, y_val, report)
        if args.coding:
            coding_variants(docs_fit, y_fit, docs_val, y_val, report)
        if args.families:
            model_families((counts_fit, counts_val), idf, y_fit, y_val, report)
        if args.combined or args.stacked or args.normalisation or args.coding or args.families:
            return
        report(
            "LinearSVC, 2**20 columns, sublinear",
            svc_accuracy(scaled(counts_fit, None), y_fit, scaled(counts_val, None), y_val),
        )
        report(
            "LinearSVC, 2**20 columns, sublinear, idf",
            svc_accuracy(scaled(counts_fit, idf), y_fit, scaled(counts_val, idf), y_val),
        )
        bigrams_fit = sublinear_counts(docs_fit, (1, 2))
        bigrams_val = sublinear_counts(docs_val, (1, 2))
        report(
            "LinearSVC, 2**20 columns, sublinear, word bigrams",
            svc_accuracy(scaled(bigrams_fit, None), y_fit, scaled(bigrams_val, None), y_val),
        )
        for n_buckets in (15_000, 16_384, 30_000):
            fold = bucket_matrix(n_buckets)
            buckets_fit, buckets_val = counts_fit @ fold, counts_val @ fold
            bucket_idf = idf_of(buckets_fit)
            X_fit, X_val = scaled(buckets_fit, bucket_idf), scaled(buckets_val, bucket_idf)
            svc = LinearSVC(random_state=0).fit(X_fit, y_fit)
            bytes_at_3_bits = n_buckets * len(classes) * 3 // 8
            report(
                f"B={n_buckets:,} buckets, idf, LinearSVC float / 16 values / 8 values "
                f"({bytes_at_3_bits:,} bytes of coefficients at 3 bits)",
                f"{svc.score(X_val, y_val):.4f} / {quantized_accuracy(svc, X_val, y_val, 16):.4f}"
                f" / {quantized_accuracy(svc, X_val, y_val, 8):.4f}",
            )
            report(
                f"B={n_buckets:,} buckets, idf, LogisticRegression(C=100)",
                LogisticRegression(C=100, max_iter=1000).fit(X_fit, y_fit).score(X_val, y_val),
            )
            if n_buckets == 16_384 and not args.no_torch:
                for solver, loss in [
                    ("adam", "ce"),
                    ("sgd", "ce"),
                    ("adam", "hinge"),
                    ("sgd", "hinge"),
                ]:
                    report(
                        f"B=16,384 buckets, idf, torch linear layer, {solver}, {loss}",
                        torch_linear_accuracies(X_fit, y_fit, X_val, y_val, solver, loss),
                    )


if __name__ == "__main__":
    main()
