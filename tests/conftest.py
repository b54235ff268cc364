import numpy as np
import pytest
import scipy.sparse as sp


def random_csr(n_rows, n_cols, nnz_per_row, seed=0):
    """Random non-negative CSR matrix, fast for millions of columns
    (``scipy.sparse.random`` takes seconds there)."""
    rng = np.random.RandomState(seed)
    indices = np.sort(
        rng.randint(0, n_cols, size=(n_rows, nnz_per_row)), axis=1
    ).ravel()
    X = sp.csr_matrix(
        (rng.rand(n_rows * nnz_per_row), indices, np.arange(0, n_rows * nnz_per_row + 1, nnz_per_row)),
        shape=(n_rows, n_cols),
    )
    X.sum_duplicates()
    return X


@pytest.fixture
def make_csr():
    return random_csr
