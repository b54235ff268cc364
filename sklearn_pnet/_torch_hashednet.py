"""Torch modules of HashedNets (Chen et al., 2015): layers whose virtual
weights share a few real ones through a hash.

Only training imports this module; prediction runs the numpy twins in
:mod:`sklearn_pnet._inference`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ._hashing import hashed_buckets
from ._inference import present_columns
from ._torch_common import to_tensor


class _HashedMatmul(torch.autograd.Function):
    """``x @ V`` for the virtual matrix ``V`` of a :class:`HashedLinear`.

    ``V`` is built and used a block of rows at a time, in the forward and
    in the backward pass, and autograd keeps no block: backward rebuilds
    each one from the hash. Memory is then one block of ``V`` plus the
    batch and the ``n_weights`` real weights, however wide the layer.

    ``parts`` lists ``(rows, x_part)``: the input features (rows of ``V``)
    of a block, and either the slice of the columns of the dense ``x`` that
    multiply them or a sparse tensor holding those columns.
    """

    @staticmethod
    def forward(ctx, x, weight, layer, parts, n_samples):
        ctx.layer, ctx.parts = layer, parts
        ctx.save_for_backward(x, weight)
        out = weight.new_zeros((n_samples, layer.n_out))
        for rows, part in parts:
            buckets, signs = layer.structure(rows)
            virtual = signs * weight[buckets]
            out += _part_matmul(x, part, virtual)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = torch.zeros_like(x) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight)
        for rows, part in ctx.parts:
            buckets, signs = ctx.layer.structure(rows)
            # dL/dV of this block; w_k collects xi * dL/dV over its bucket.
            grad_virtual = _part_matmul(x, part, grad_out, transpose=True)
            grad_weight.index_add_(0, buckets.ravel(), (signs * grad_virtual).ravel())
            if grad_x is not None:
                grad_x[:, part] = grad_out @ (signs * weight[buckets]).T
        return grad_x, grad_weight, None, None, None


def _part_matmul(x, part, other, transpose=False):
    """``x[:, part] @ other``, or ``x[:, part].T @ other`` with
    ``transpose``, where ``part`` is a column slice of the dense ``x`` or a
    sparse tensor of its own."""
    if isinstance(part, slice):
        block = x[:, part]
        return (block.T if transpose else block) @ other
    return torch.sparse.mm(part.t() if transpose else part, other)


class HashedLinear(nn.Module):
    """A fully connected layer with HashedNets' shared weights.

    The layer keeps ``n_weights`` real weights ``w``; its virtual
    ``(n_in, n_out)`` weight matrix is ``V[i, j] = xi(i, j) * w[h(i, j)]``,
    with the bucket ``h`` and the sign ``xi`` given by
    :func:`~sklearn_pnet._hashing.hashed_buckets` for ``seed`` (use one seed
    per layer). ``forward(x)`` returns ``x @ V + bias``. The gradient of
    ``w[k]`` is the sum of ``xi * dL/dV`` over the entries of bucket ``k``.

    ``V`` is never built whole for wide layers: it is formed and multiplied
    ``block_entries`` entries at a time, and a layer of at most
    ``cache_entries`` entries keeps its hashes (not ``V``) in memory; wider
    layers recompute them every batch.

    Parameters
    ----------
    n_in, n_out : int
        Shape of the virtual weight matrix.
    n_weights : int
        Number of real weights ``K``; ``K / (n_in * n_out)`` is the
        compression factor.
    seed : int
        Seed of the hashes, in ``[0, 2**32)``.
    hash_bias : bool, default=False
        Take the bias from the shared weights too, as the virtual entries
        of an extra input row ``n_in`` (a constant input of 1, as in the
        paper): ``bias[j] = xi(n_in, j) * w[h(n_in, j)]``. Otherwise the
        layer has ``n_out`` biases of its own.

    Notes
    -----
    ``forward`` takes a torch tensor (hidden layers), a dense numpy array
    or a scipy sparse matrix; for the latter, only the columns present in
    the batch are hashed, so a batch from a million-column input costs
    in proportion to its non-zeros.

    The initialisation is ``nn.Linear``'s: the weights (and so each virtual
    entry, ``xi`` being a fair sign) and the biases are uniform on
    ``[-1/sqrt(n_in), 1/sqrt(n_in)]``.
    """

    # Entries of V formed at once (1 MB of float32), in both passes.
    block_entries = 2**18
    # Layers up to this many entries keep their buckets (int32) and signs
    # (float32): 16 MB, not worth hashing again every batch.
    cache_entries = 2**21

    def __init__(self, n_in, n_out, n_weights, seed, hash_bias=False):
        super().__init__()
        self.n_in, self.n_out, self.seed = n_in, n_out, seed
        self.hash_bias = hash_bias
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(n_weights).uniform_(-bound, bound))
        if hash_bias:
            self.bias = None
            self._register_structure("bias_", np.array([n_in]))
        else:
            self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))
        self.cached = n_in * n_out <= self.cache_entries
        if self.cached:
            self._register_structure("", np.arange(n_in))

    def _register_structure(self, prefix, rows):
        # Non-persistent buffers: they follow .to(device) but stay out of
        # the state dict, being recomputed from the seed.
        buckets, signs = hashed_buckets(self.seed, rows, self.n_out, len(self.weight))
        buckets = torch.from_numpy(buckets.astype(np.int32))
        self.register_buffer(f"_{prefix}buckets", buckets, persistent=False)
        self.register_buffer(f"_{prefix}signs", torch.from_numpy(signs), persistent=False)

    def load_numpy(self, weight, bias=None):
        """Set the weights (and the biases, unless hashed) from numpy."""
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            if self.bias is not None:
                self.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))

    def structure(self, rows):
        """Buckets and signs of rows ``rows`` (a slice or an array of input
        features) of the virtual matrix, as tensors on the layer's device."""
        if self.cached:
            if not isinstance(rows, slice):
                rows = torch.from_numpy(rows).to(self._buckets.device)
            return self._buckets[rows], self._signs[rows]
        if isinstance(rows, slice):
            rows = np.arange(rows.start, rows.stop)
        buckets, signs = hashed_buckets(self.seed, rows, self.n_out, len(self.weight))
        device = self.weight.device
        return torch.from_numpy(buckets).to(device), torch.from_numpy(signs).to(device)

    def _blocks(self, n_rows):
        step = max(1, self.block_entries // self.n_out)
        return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]

    def forward(self, x):
        device = self.weight.device
        n_samples = x.shape[0]
        if sp.issparse(x):
            # A placeholder stands for x: the sparse parts carry the data.
            x, parts = torch.empty(0, device=device), self._sparse_parts(x, device)
        else:
            if not torch.is_tensor(x):
                x = to_tensor(x, device)
            parts = [(block, block) for block in self._blocks(self.n_in)]
        out = _HashedMatmul.apply(x, self.weight, self, parts, n_samples)
        if self.hash_bias:
            return out + self._bias_signs[0] * self.weight[self._bias_buckets[0]]
        return out + self.bias

    def _sparse_parts(self, X, device):
        """``(features, sparse tensor)`` blocks of a scipy batch, over the
        columns present only, renumbered ``0 .. u-1``."""
        features, X = present_columns(sp.csr_matrix(X, dtype=np.float32))
        X = X.tocsc()  # cheap blocks of columns
        parts = []
        for block in self._blocks(len(features)):
            part = X[:, block].tocoo()
            tensor = torch.sparse_coo_tensor(
                torch.from_numpy(np.vstack([part.row, part.col]).astype(np.int64)),
                torch.from_numpy(part.data),
                part.shape,
                # scipy already guarantees a valid structure.
                check_invariants=False,
            )
            parts.append((features[block], tensor.coalesce().to(device)))
        return parts


def hashed_mlp(n_inputs, hidden_layer_sizes, n_outputs, n_weights, seeds, hash_bias=False):
    """A ReLU MLP of :class:`HashedLinear` layers, returning logits.

    ``n_weights[i]`` and ``seeds[i]`` are the real weights and the seed of
    layer ``i``.
    """
    sizes = [n_inputs, *hidden_layer_sizes, n_outputs]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(HashedLinear(n_in, n_out, n_weights[i], seeds[i], hash_bias))
    return nn.Sequential(*layers)
