"""Torch helpers that both networks' modules and the training loop use.

Only training imports this module; prediction never needs torch.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def to_tensor(X, device):
    """A dense float32 tensor, or a sparse CSR tensor for scipy input."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        with warnings.catch_warnings():
            # Torch warns once per process that sparse CSR is "beta"; the
            # few operations used here (embedding_bag on its arrays, or
            # torch.sparse.mm in a custom teacher) are stable.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            return torch.sparse_csr_tensor(
                torch.from_numpy(X.indptr.astype(np.int64)),
                torch.from_numpy(X.indices.astype(np.int64)),
                torch.from_numpy(X.data),
                size=X.shape,
                device=device,
                # scipy already guarantees a valid CSR structure.
                check_invariants=False,
            )
    return torch.from_numpy(np.asarray(X, dtype=np.float32)).to(device)


def sparse_parameters(module):
    """Parameters of the sub-modules that produce sparse gradients."""
    return [
        p
        for m in module.modules()
        if getattr(m, "sparse", False) is True
        for p in m.parameters(recurse=False)
        if p.requires_grad and p.dim() == 2
    ]
