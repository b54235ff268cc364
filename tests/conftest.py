"""Fixtures and helpers shared by the test modules."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

# The project root: scripts run from there (``run_python``).
ROOT = Path(__file__).resolve().parents[1]

# ../shared/data beside the project, or $SKLEARN_PNET_DATA: the real
# datasets of the slow tests.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = Path(os.environ.get("SKLEARN_PNET_DATA", SHARED_DATA))

# Prepended to a script run by ``run_without_torch``: a meta-path finder
# that makes ``import torch`` fail, as where torch was never installed.
# (``sys.modules["torch"] = None`` would break ``import scipy.stats`` with
# scipy 1.17, which probes for torch.)
NO_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "torch":
                raise ImportError("torch is not installed here")

    sys.meta_path.insert(0, NoTorch())
    try:
        import torch
    except ImportError:
        pass
    else:
        raise AssertionError("torch should not import")
    """
)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests run on one thread of BLAS and torch: on a busy machine (CI)
    multi-threaded kernels spin against other jobs and take many times
    longer, and no test measures speed."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def fast_settings():
    """Each classifier with settings that train digits in a second or two."""
    from sklearn_pnet import HashedNetClassifier, ProjectionNetClassifier

    return {
        ProjectionNetClassifier: dict(
            n_bits=64, teacher_hidden_layer_sizes=(32,), max_iter=30, random_state=0
        ),
        HashedNetClassifier: dict(hidden_layer_sizes=(64,), max_iter=30, random_state=0),
    }


@pytest.fixture(params=list(fast_settings()), ids=lambda cls: cls.__name__)
def make(request):
    """A factory of each classifier in turn, with fast settings that its
    keyword arguments override: the contract tests run on both."""
    cls, settings = request.param, fast_settings()[request.param]

    def make(**params):
        return cls(**{**settings, **params})

    return make


def missing_cuda_device():
    """A CUDA device this machine does not have: "cuda" on a CPU-only
    torch (the case users meet), an ordinal past the last GPU elsewhere."""
    import torch

    return "cuda:99" if torch.cuda.is_available() else "cuda"


def run_python(*args):
    """Run ``python ARGS`` from the project root on one thread (on a busy
    shared machine, multi-threaded torch and BLAS spin against other jobs
    and take many times longer); returns its standard output, and fails on
    a non-zero exit."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def random_csr(n_rows, n_cols, nnz_per_row, seed=0):
    """Random non-negative CSR matrix, fast for millions of columns
    (``scipy.sparse.random`` takes seconds there)."""
    rng = np.random.RandomState(seed)
    indices = np.sort(rng.randint(0, n_cols, size=(n_rows, nnz_per_row)), axis=1).ravel()
    X = sp.csr_matrix(
        (
            rng.rand(n_rows * nnz_per_row),
            indices,
            np.arange(0, n_rows * nnz_per_row + 1, nnz_per_row),
        ),
        shape=(n_rows, n_cols),
    )
    X.sum_duplicates()
    return X


@pytest.fixture(scope="session")
def data_dir():
    """The real datasets' directory; the test is skipped without it."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"no data directory at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist_subset(data_dir):
    """``X_train, y_train, X_test``: the first 3,000 MNIST training images
    and 1,000 test images, pixels scaled to [0, 1]; skipped without them."""
    from benchmarks.datasets import read_idx

    folder = data_dir / "mnist"
    if not folder.is_dir():
        pytest.skip(f"MNIST not found in {folder}")
    X = read_idx(folder / "train-images-idx3-ubyte.gz")[:3000].reshape(-1, 784) / 255.0
    y = read_idx(folder / "train-labels-idx1-ubyte.gz")[:3000]
    X_test = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:1000].reshape(-1, 784) / 255.0
    return X, y, X_test


@pytest.fixture
def make_csr():
    return random_csr


@pytest.fixture(scope="session")
def digits():
    """``X_train, X_test, y_train, y_test`` of scikit-learn's digits."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture
def run_without_torch():
    """Run a Python script in a fresh process where ``import torch``
    fails; returns its standard output, and fails on a non-zero exit."""

    def run(script):
        source = NO_TORCH + textwrap.dedent(script) + "\nassert 'torch' not in sys.modules\n"
        done = subprocess.run(
            [sys.executable, "-c", source], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return run
