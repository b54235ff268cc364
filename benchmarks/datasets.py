"""Loaders of the benchmark datasets.

Each loader takes a data directory laid out as ``../shared/data`` is (see
its README) and reads the files there; with no directory it falls back to
the usual public source (scikit-learn's fetchers, OpenML, the UCI and
Cognitive Computation Group URLs, downloaded by ``fetch_file`` and checked
against their SHA-256), cached in scikit-learn's data home, never in this
repository. The directory comes from ``--data-dir`` or, when
that is not given, from the ``SKLEARN_PNET_DATA`` environment variable.

:data:`DATASETS` is the registry: one :class:`DatasetEntry` per dataset,
with its loader and its kind. Every loader returns a :class:`Split`, the raw
inputs (pixel arrays or an object array of strings) and the labels of a
fixed train/test split; :func:`load` names it a :class:`Dataset`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import gzip
import hashlib
import os
import struct
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    fetch_20newsgroups,
    fetch_file,
    fetch_openml,
    get_data_home,
    load_digits,
)
from sklearn.model_selection import train_test_split

DATA_DIR_VARIABLE = "SKLEARN_PNET_DATA"

TREC_URL = "https://cogcomp.seas.upenn.edu/Data/QA/QC/"
# SHA-256 of the TREC files, those of ../shared/data/SHA256SUMS: the files
# the committed results were measured on.
TREC_SHA256 = {
    "train_5500.label": "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
    "TREC_10.label": "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
}
SMS_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
# SHA-256 of SMSSpamCollection, the file in that archive, as in
# ../shared/data/SHA256SUMS. The archive's own checksum could not be
# computed offline (no copy of it here), so the archive is downloaded
# unchecked and the extracted file is checked instead.
SMS_SHA256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"

# Tries of a failed download after the first, and seconds between them.
N_RETRIES = 3
RETRY_DELAY = 1

# Seed of the fixed splits (digits, SMS spam) and of --quick subsampling.
SPLIT_SEED = 0


# The kinds of data. "image": ``X_*`` are float arrays of pixels scaled to
# [0, 1], which every system takes as they are; "text": ``X_*`` are object
# arrays of documents, which run.py turns into the tf-idf features shared
# by the systems (text pipelines take the documents).
KINDS = ("image", "text")


@dataclass
class Split:
    """Raw inputs and labels of a fixed train/test split, as a loader reads
    them; ``source`` says where from."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    source: str
    # Posting order of the training documents where the source has one (the
    # article number of each 20 Newsgroups message): lets a validation split
    # hold out the latest documents, as the test split does.
    train_order: np.ndarray = None


@dataclass(kw_only=True)
class Dataset(Split):
    """A :class:`Split` with the ``name`` and ``kind`` of its registry entry."""

    name: str
    kind: str

    @property
    def n_classes(self):
        return len(np.unique(self.y_train))


def resolve_data_dir(data_dir=None):
    """The data directory: the argument, else ``$SKLEARN_PNET_DATA``, else
    None (public downloads)."""
    data_dir = data_dir or os.environ.get(DATA_DIR_VARIABLE)
    return Path(data_dir) if data_dir else None


def read_idx(path):
    """An IDX array (the MNIST file format), gzip-compressed or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, n_dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:  # 0x08: unsigned bytes, all MNIST uses
        raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
    shape = struct.unpack(f">{n_dims}I", data[4 : 4 + 4 * n_dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def _idx_split(folder, prefix):
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    return images.reshape(len(images), -1), labels


def _mnist_like(folder_name, openml_name, data_dir):
    """MNIST or Fashion-MNIST: IDX files of the data directory, else OpenML
    (whose rows are the 60000 training images, then the 10000 test ones)."""
    if data_dir is not None:
        folder = data_dir / folder_name
        X_train, y_train = _idx_split(folder, "train")
        X_test, y_test = _idx_split(folder, "t10k")
        source = str(folder)
    else:
        X, y = fetch_openml(openml_name, version=1, return_X_y=True, as_frame=False)
        X, y = X.astype(np.uint8), y.astype(np.int64)
        X_train, X_test, y_train, y_test = X[:60000], X[60000:], y[:60000], y[60000:]
        source = f"OpenML {openml_name}"
    scale = np.float32(1 / 255)
    return Split(
        X_train.astype(np.float32) * scale,
        X_test.astype(np.float32) * scale,
        y_train.astype(np.int64),
        y_test.astype(np.int64),
        source,
    )


def load_digits_split(data_dir=None):
    """scikit-learn's bundled 8x8 digits, 30% held out (stratified)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        (X / 16).astype(np.float32), y, test_size=0.3, stratify=y, random_state=SPLIT_SEED
    )
    return Split(X_train, X_test, y_train, y_test, "sklearn.load_digits")


def load_mnist(data_dir=None):
    """MNIST, 60000 / 10000."""
    return _mnist_like("mnist", "mnist_784", data_dir)


def load_fashion_mnist(data_dir=None):
    """Fashion-MNIST, 60000 / 10000."""
    return _mnist_like("fashion_mnist", "Fashion-MNIST", data_dir)


def _newsgroups(data_dir, remove, categories=None):
    # With a data directory, read scikit-learn's cache file there and never
    # download; without, fetch_20newsgroups uses $SCIKIT_LEARN_DATA or
    # ~/scikit_learn_data and downloads on first use, as for any user.
    kwargs = {"remove": remove, "categories": categories}
    if data_dir is not None:
        kwargs.update(data_home=data_dir / "scikit_learn_data", download_if_missing=False)
    train = fetch_20newsgroups(subset="train", **kwargs)
    test = fetch_20newsgroups(subset="test", **kwargs)
    return Split(
        np.array(train.data, dtype=object),
        np.array(test.data, dtype=object),
        train.target,
        test.target,
        "sklearn.fetch_20newsgroups" + (f"(remove={remove})" if remove else ""),
        # The file names are the messages' article numbers.
        np.array([int(Path(f).name) for f in train.filenames]),
    )


def load_newsgroups(data_dir=None):
    """20 Newsgroups, all 20 classes, "bydate" split (11314 / 7532)."""
    return _newsgroups(data_dir, ())


# The 4 topics of scikit-learn's text classification example, the design
# card's "4-topic 20 Newsgroups".
FOUR_TOPICS = ["alt.atheism", "comp.graphics", "sci.space", "talk.religion.misc"]


def load_newsgroups_4topics(data_dir=None):
    """20 Newsgroups restricted to :data:`FOUR_TOPICS` (2034 / 1353)."""
    return _newsgroups(data_dir, (), FOUR_TOPICS)


def load_newsgroups_stripped(data_dir=None):
    """20 Newsgroups without headers, footers and quotes: the harder,
    more honest variant (the headers name the newsgroup)."""
    return _newsgroups(data_dir, ("headers", "footers", "quotes"))


def download(url, folder, filename, sha256=None):
    """``folder / filename``, downloaded from ``url`` by scikit-learn's
    ``fetch_file`` unless it is already there (with the right ``sha256``,
    where given); a download whose SHA-256 differs raises ``OSError``."""
    folder.mkdir(parents=True, exist_ok=True)  # fetch_file does not make it
    return fetch_file(
        url,
        folder=folder,
        local_filename=filename,
        sha256=sha256,
        n_retries=N_RETRIES,
        delay=RETRY_DELAY,
    )


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_trec(lines):
    """Coarse labels and questions of TREC ``COARSE:fine question`` lines."""
    labels, questions = [], []
    for line in lines:
        line = line.strip()
        if line:
            label, question = line.split(" ", 1)
            labels.append(label.split(":", 1)[0])
            questions.append(question)
    return np.array(questions, dtype=object), np.array(labels)


def load_trec(data_dir=None):
    """TREC question classification, 6 coarse classes (5452 / 500)."""
    if data_dir is not None:
        folder = data_dir / "trec"
    else:
        folder = Path(get_data_home()) / "trec"
        for file, sha256 in TREC_SHA256.items():
            download(TREC_URL + file, folder, file, sha256)
    # The files are Latin-1, not UTF-8 (a few accented names).
    with open(folder / "train_5500.label", encoding="latin-1") as f:
        X_train, y_train = parse_trec(f)
    with open(folder / "TREC_10.label", encoding="latin-1") as f:
        X_test, y_test = parse_trec(f)
    return Split(X_train, X_test, y_train, y_test, str(folder))


def parse_sms(lines):
    """Messages and labels of ``label<TAB>text`` lines."""
    labels, messages = zip(*(line.rstrip("\n").split("\t", 1) for line in lines if line.strip()))
    return np.array(messages, dtype=object), np.array(labels)


def fetch_sms_spam(folder):
    """``SMSSpamCollection`` in ``folder``, extracted once from the UCI
    archive (downloaded there) and checked against :data:`SMS_SHA256`."""
    path = folder / "SMSSpamCollection"
    if path.exists() and _sha256(path.read_bytes()) == SMS_SHA256:
        return path
    archive = download(SMS_URL, folder, "smsspamcollection.zip")
    with zipfile.ZipFile(archive) as z:
        data = z.read("SMSSpamCollection")
    # Checked before it is written, so that a wrong file is never cached.
    if _sha256(data) != SMS_SHA256:
        raise OSError(
            f"The SHA256 checksum of SMSSpamCollection in {archive} ({_sha256(data)}) "
            f"differs from expected ({SMS_SHA256})."
        )
    path.write_bytes(data)
    return path


def load_sms_spam(data_dir=None):
    """SMS Spam Collection (5574 messages), 25% held out (stratified)."""
    if data_dir is not None:
        path = data_dir / "sms_spam" / "SMSSpamCollection"
        source = str(path)
    else:
        path = fetch_sms_spam(Path(get_data_home()) / "sms_spam")
        source = SMS_URL
    with open(path, encoding="utf-8") as f:
        X, y = parse_sms(f)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SPLIT_SEED
    )
    return Split(X_train, X_test, y_train, y_test, source)


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of the registry: how to load it, and what it is.

    Parameters
    ----------
    name : str
        Key of :data:`DATASETS`, value of ``--datasets`` and of the results'
        ``dataset`` column.
    kind : {"image", "text"}
        What the loader's inputs are (see :data:`KINDS`); systems of the
        other kind skip the dataset.
    loader : callable
        ``loader(data_dir)`` returns the :class:`Split`, read from
        ``data_dir`` (laid out as ``../shared/data``) or, where it is None,
        from the public source.
    in_suite : bool
        Whether ``run.py`` measures it; False for a dataset that only
        ``targets.py`` and ``validation.py`` use.
    extra_budgets : tuple of int
        Bit budgets that the swept systems add on this dataset.
    compression : bool
        Whether the equal-bytes comparison of issue #4 runs on it: the
        compressed students, HashedNet 1/512 and the equal-bytes table of
        ``RESULTS.md``.
    """

    name: str
    kind: str
    loader: object
    in_suite: bool = True
    extra_budgets: tuple = ()
    compression: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")


def _by_name(entries):
    """``{entry.name: entry}``, refusing a name registered twice."""
    registry = {}
    for entry in entries:
        if entry.name in registry:
            raise ValueError(f"dataset {entry.name!r} is registered twice")
        registry[entry.name] = entry
    return registry


DATASETS = _by_name(
    [
        DatasetEntry("digits", "image", load_digits_split),
        # The ProjectionNet paper's 100 bits, beside its results in RESULTS.md.
        DatasetEntry("mnist", "image", load_mnist, extra_budgets=(100,), compression=True),
        DatasetEntry("fashion_mnist", "image", load_fashion_mnist),
        DatasetEntry("20news", "text", load_newsgroups, compression=True),
        DatasetEntry("20news_stripped", "text", load_newsgroups_stripped),
        DatasetEntry("trec", "text", load_trec),
        DatasetEntry("sms_spam", "text", load_sms_spam),
        # The design card's 4 topics: a target and validation runs, no more.
        DatasetEntry("20news_4topics", "text", load_newsgroups_4topics, in_suite=False),
    ]
)


def suite():
    """Names of the datasets ``run.py`` measures, in the registry's order."""
    return [name for name, entry in DATASETS.items() if entry.in_suite]


def extra_budgets():
    """``{name: bit budgets}`` that the swept systems add on each dataset."""
    return {name: entry.extra_budgets for name, entry in DATASETS.items() if entry.extra_budgets}


def compression_datasets():
    """Names of the datasets of the equal-bytes comparison (issue #4)."""
    return tuple(name for name, entry in DATASETS.items() if entry.compression)


def subsample(dataset, n_train=None, n_test=None):
    """At most ``n_train`` / ``n_test`` samples of each split, stratified,
    always the same ones."""

    def take(X, y, n):
        if n is None or n >= len(y):
            return X, y
        X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=SPLIT_SEED)
        return X, y

    X_train, y_train = take(dataset.X_train, dataset.y_train, n_train)
    X_test, y_test = take(dataset.X_test, dataset.y_test, n_test)
    # The posting order follows the training split only when it is whole.
    order = dataset.train_order if n_train is None or n_train >= len(dataset.y_train) else None
    return replace(
        dataset, X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test, train_order=order
    )


def load(name, data_dir=None, n_train=None, n_test=None):
    """Dataset ``name`` (a key of :data:`DATASETS`), optionally subsampled."""
    entry = DATASETS[name]
    split = entry.loader(resolve_data_dir(data_dir))
    dataset = Dataset(**vars(split), name=entry.name, kind=entry.kind)
    return subsample(dataset, n_train, n_test)
