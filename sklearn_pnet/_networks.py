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

from ._compact import present_columns
from ._hashing import projection_structure


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


class HashedProjection(nn.Module):
    """The LSH projection with trainable shared weights (HashedNets).

    Entry ``(j, k)`` of the projection is the random projection's ``±1``
    times ``weight[h(j, k)]``, one of ``n_weights`` shared weights chosen by
    a hash (:func:`~sklearn_pnet._hashing.projection_structure`); the
    per-bit ``threshold`` is trained too. Starting from ``weight = 1`` and
    the centring threshold, training starts at the random projection.

    ``forward`` takes a batch as numpy or scipy CSR (the structure is hashed
    for the columns present only) and returns ``<x, p_k> - threshold_k``.

    The shared weights start at 1 and must move by about as much, in few
    steps when data are small: they learn ``lr_scale`` times faster than
    the rest. In development runs (validation splits, 20-30 epochs), a
    scale of 3 lost 13 points on 4-topic 20 Newsgroups against 10 to 100,
    which were within 3 points of each other there, on all 20 topics and
    on MNIST; 30 was the middle of that plateau. Those runs used the
    identity straight-through gradient; with the clipped one
    (:func:`straight_through_bits`), 30 still beat 3 on Fashion-MNIST
    (``benchmarks/VALIDATION.md``).
    """

    lr_scale = 30.0

    def __init__(self, seed, n_features, n_bits, n_slots, n_weights, threshold):
        super().__init__()
        self.seed, self.n_features = seed, n_features
        self.n_bits, self.n_slots = n_bits, n_slots
        # No more weights than entries: beyond, each entry has its own.
        n_weights = min(n_weights, n_features * (n_bits if n_slots is None else n_slots))
        self.weight = nn.Parameter(torch.ones(n_weights))
        self.threshold = nn.Parameter(torch.as_tensor(threshold, dtype=torch.float32))
        self._dense_structure = None  # cached for dense input: always all columns

    def load_numpy(self, weight, threshold):
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            self.threshold.copy_(torch.from_numpy(np.asarray(threshold, dtype=np.float32)))

    def _structure(self, features):
        bits, signs, buckets = projection_structure(
            self.seed, features, self.n_bits, self.n_slots, len(self.weight), self.n_features
        )
        device = self.weight.device
        return (
            None if bits is None else torch.from_numpy(bits).to(device),
            torch.from_numpy(signs).to(device),
            torch.from_numpy(buckets).to(device),
        )

    def _rows(self, structure, n_rows):
        """The projection rows as a dense ``(n_rows, n_bits)`` tensor."""
        bits, signs, buckets = structure
        values = signs * self.weight[buckets]
        if bits is None:
            return values
        flat = (torch.arange(n_rows, device=values.device)[:, None] * self.n_bits + bits).ravel()
        rows = torch.zeros(n_rows * self.n_bits, device=values.device)
        return rows.index_add(0, flat, values.ravel()).view(n_rows, self.n_bits)

    def forward(self, X):
        device = self.weight.device
        if not sp.issparse(X):
            if self._dense_structure is None:
                self._dense_structure = self._structure(np.arange(X.shape[1]))
            P = self._rows(self._dense_structure, X.shape[1])
            return to_tensor(X, device) @ P - self.threshold
        features, X = present_columns(X)
        columns = X.indices
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        data = torch.from_numpy(np.asarray(X.data, dtype=np.float32)).to(device)
        structure = self._structure(features)
        if self.n_slots is None:
            X_present = torch.sparse_coo_tensor(
                torch.from_numpy(np.vstack([rows, columns])), data, (X.shape[0], len(features))
            ).to(device)
            Z = torch.sparse.mm(X_present, self._rows(structure, len(features)))
        else:
            # O(nnz * n_slots): each non-zero adds itself to its slots' bits.
            bits, signs, buckets = structure
            columns = torch.from_numpy(columns).to(device)
            values = data[:, None] * signs[columns] * self.weight[buckets[columns]]
            flat = torch.from_numpy(rows).to(device)[:, None] * self.n_bits + bits[columns]
            Z = torch.zeros(X.shape[0] * self.n_bits, device=device)
            Z = Z.index_add(0, flat.ravel(), values.ravel()).view(X.shape[0], self.n_bits)
        return Z - self.threshold


def straight_through_bits(z):
    """``1.0`` where ``z > 0`` else ``0.0``, with a clipped, rescaled
    straight-through gradient.

    The gradient is that of ``clip(z / s, -1, 1)``, ``s`` being each bit's
    standard deviation over the batch (1 where it is 0): the
    straight-through estimator of binarized networks (Hubara et al., 2016),
    which passes no gradient where a bit is already far from flipping, put
    on each bit's own scale because pre-activations range from about 0.1
    (tf-idf) to hundreds (pixels). The plain identity gradient (Bengio et
    al., 2013) pushed every pre-activation regardless of its distance to the
    threshold: on Fashion-MNIST, 64 bits (validation split, 20 epochs), the
    trained projection reached 67.5% with it, below the random projection's
    73.6%, and 86.4% with the clipped one; MNIST at 256 bits went from 93.2%
    to 96.4%, 20 Newsgroups at 1,024 bits stayed at 89.0%, 4-topic 20
    Newsgroups moved from 94.4% to 93.4%.
    """
    scale = z.detach().std(dim=0, correction=0, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    surrogate = torch.clamp(z / scale, -1.0, 1.0)
    return (z > 0).to(z.dtype) + (surrogate - surrogate.detach())


class Student(nn.Module):
    """Bits -> MLP. The bits come precomputed (random projection) or from a
    trainable :class:`HashedProjection` applied to the raw batch."""

    def __init__(self, mlp, projection=None):
        super().__init__()
        self.mlp = mlp
        self.projection = projection

    def forward(self, inputs):
        if self.projection is not None:
            inputs = straight_through_bits(self.projection(inputs))
        return self.mlp(inputs)


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


def student_weights(mlp):
    """The MLP's Linear layers as float32 numpy ``(coefs, intercepts)``,
    ``coefs[i]`` of shape ``(n_in, n_out)`` as in scikit-learn's MLP."""
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    coefs = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
    intercepts = [m.bias.detach().cpu().numpy().copy() for m in linears]
    return coefs, intercepts


def load_student_weights(mlp, coefs, intercepts):
    """Inverse of :func:`student_weights` (for ``warm_start``)."""
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for m, coef, intercept in zip(linears, coefs, intercepts):
            m.weight.copy_(torch.from_numpy(np.asarray(coef, dtype=np.float32).T))
            m.bias.copy_(torch.from_numpy(np.asarray(intercept, dtype=np.float32)))


# HashedNets (Chen et al., 2015): layers whose virtual weights share a few
# real ones through a hash.

from ._hashing import hashed_buckets  # noqa: E402  (kept with the code using it)


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
