"""Torch modules: the teacher MLP, the student, and batch conversion.

Only training imports this module; prediction never needs torch.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math
import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn


class SparseLinear(nn.Module):
    """``x @ weight + bias`` for wide sparse input, with sparse gradients.

    A CSR batch (``torch.sparse_csr_tensor``) is multiplied straight from
    its three arrays by ``embedding_bag``: the cost is proportional to the
    batch's non-zeros, and the gradient of ``weight`` only has rows for the
    columns present, so a 130k-feature first layer is updated in a few
    milliseconds. ``sparse = True`` tells the trainer to optimise
    ``weight`` with ``torch.optim.SparseAdam``, as for ``nn.EmbeddingBag``.
    """

    sparse = True

    def __init__(self, in_features, out_features):
        super().__init__()
        # Same uniform initialisation as nn.Linear.
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(
            torch.empty(in_features, out_features).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x):
        if x.layout == torch.sparse_csr:
            out = F.embedding_bag(
                x.col_indices(),
                self.weight,
                x.crow_indices()[:-1],
                mode="sum",
                per_sample_weights=x.values(),
                sparse=True,
                include_last_offset=False,
            )
        else:
            out = x @ self.weight
        return out + self.bias


def mlp(n_inputs, hidden_layer_sizes, n_outputs, first_layer=nn.Linear):
    """A ReLU multi-layer perceptron returning logits."""
    sizes = [n_inputs, *hidden_layer_sizes, n_outputs]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append((first_layer if i == 0 else nn.Linear)(n_in, n_out))
    return nn.Sequential(*layers)


def teacher_mlp(n_features, hidden_layer_sizes, n_classes, sparse_input):
    """The default teacher: an MLP on the raw features."""
    first_layer = SparseLinear if sparse_input else nn.Linear
    return mlp(n_features, hidden_layer_sizes, n_classes, first_layer=first_layer)


def sparse_parameters(module):
    """Parameters of the sub-modules that produce sparse gradients."""
    return [
        p
        for m in module.modules()
        if getattr(m, "sparse", False) is True
        for p in m.parameters(recurse=False)
        if p.requires_grad and p.dim() == 2
    ]


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


def student_weights(student):
    """The student's Linear layers as float32 numpy ``(coefs, intercepts)``,
    ``coefs[i]`` of shape ``(n_in, n_out)`` as in scikit-learn's MLP."""
    linears = [m for m in student if isinstance(m, nn.Linear)]
    coefs = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
    intercepts = [m.bias.detach().cpu().numpy().copy() for m in linears]
    return coefs, intercepts


def load_student_weights(student, coefs, intercepts):
    """Inverse of :func:`student_weights` (for ``warm_start``)."""
    linears = [m for m in student if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for m, coef, intercept in zip(linears, coefs, intercepts):
            m.weight.copy_(torch.from_numpy(np.asarray(coef, dtype=np.float32).T))
            m.bias.copy_(torch.from_numpy(np.asarray(intercept, dtype=np.float32)))
