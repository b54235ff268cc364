"""Torch modules of ProjectionNet: the teacher MLP (with a sparse first
layer for wide CSR input), the trained hashed projection, and the student.

Only training imports this module; prediction never needs torch. The numpy
twins that predict are in :mod:`sklearn_pnet._inference`; the parity tests
(``tests/test_parity.py``) check that both agree.
"""

# SPDX-License-Identifier: BSD-3-Clause

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from ._hashing import projection_n_weights, projection_structure
from ._inference import present_columns
from ._torch_common import to_tensor

try:  # built at install time (setup.py); without them, torch computes
    # the same numbers in the same order, more slowly (but for dense batches:
    # see _DenseProduct).
    from ._kernels import (
        column_std,
        dense_product,
        straight_through_grad,
        train_projection,
        train_projection_grad,
    )
except ImportError:
    column_std = straight_through_grad = train_projection = train_projection_grad = None
    dense_product = None

# The shared weights of a trained projection start at 1 and must move by
# about as much, in few steps when data are small: they learn this many
# times faster than the rest. In development runs (validation splits, 20-30
# epochs), a scale of 3 lost 13 points on 4-topic 20 Newsgroups against 10
# to 100, which were within 3 points of each other there, on all 20 topics
# and on MNIST; 30 was the middle of that plateau, and with the clipped
# straight-through gradient 30 still beat 3 on Fashion-MNIST
# (``benchmarks/VALIDATION.md``). Not a hyper-parameter: a property of a
# projection whose weights start at 1.
PROJECTION_LR_SCALE = 30.0

# Entries of a trained projection's structure (bit, sign and weight index of
# each (feature, slot)) kept for the features of the training data, instead
# of hashing them again at every batch: 9 bytes an entry, 150 MB at most.
# Beyond, the structure of each batch's features is hashed anew.
STRUCTURE_CACHE_ENTRIES = 2**24


class SparseLinear(nn.Module):
    """``x @ weight + bias`` for wide sparse input, updating only the rows a
    batch uses.

    A CSR batch (``torch.sparse_csr_tensor``) is multiplied straight from
    its three arrays by ``embedding_bag``, on the rows of ``weight`` of the
    columns present (``batch_rows``): the cost is proportional to the
    batch's non-zeros, and a 130k-feature first layer is updated in a few
    milliseconds. ``weight`` gets no gradient through autograd: the trainer
    updates those rows with :class:`~sklearn_pnet._training.RowAdam` (Adam
    on the rows used, as ``torch.optim.SparseAdam`` does, without building
    and coalescing sparse gradient tensors, which took most of a 20
    Newsgroups epoch: ``benchmarks/SPEED.md``).
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        # Same uniform initialisation as nn.Linear.
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(
            torch.empty(in_features, out_features).uniform_(-bound, bound), requires_grad=False
        )
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        # (rows, their copy that autograd sees) of the last training batch.
        self.batch_rows = None

    def forward(self, x):
        if x.layout != torch.sparse_csr:
            return x @ self.weight + self.bias
        rows, columns = torch.unique(x.col_indices(), return_inverse=True)
        used = self.weight.detach().index_select(0, rows)
        if torch.is_grad_enabled():
            used.requires_grad_()
            self.batch_rows = (rows, used)
        out = F.embedding_bag(
            columns,
            used,
            x.crow_indices()[:-1],
            mode="sum",
            per_sample_weights=x.values(),
            include_last_offset=False,
        )
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

    Its parameters learn :data:`PROJECTION_LR_SCALE` times faster than the
    rest (the trainer reads ``lr_scale``).
    """

    lr_scale = PROJECTION_LR_SCALE

    def __init__(self, seed, n_features, n_bits, n_slots, n_weights, threshold):
        super().__init__()
        self.seed, self.n_features = seed, n_features
        self.n_bits, self.n_slots = n_bits, n_slots
        n_weights = projection_n_weights(n_weights, n_features, n_bits, n_slots)
        self.weight = nn.Parameter(torch.ones(n_weights))
        self.threshold = nn.Parameter(torch.as_tensor(threshold, dtype=torch.float32))
        self._dense_structure = None  # cached for dense input: always all columns
        self._identity = None  # the same, as the compiled kernels take it
        self._cached_structure = None  # (feature -> row, structure), see cache_structure

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

    def cache_structure(self, features):
        """Hash the structure of ``features`` (the columns a sparse training
        set uses) once, for every batch to come; returns whether it fits
        in :data:`STRUCTURE_CACHE_ENTRIES`."""
        features = np.asarray(features)
        n_cols = self.n_bits if self.n_slots is None else self.n_slots
        if len(features) * n_cols > STRUCTURE_CACHE_ENTRIES:
            return False
        row_of = np.full(self.n_features, -1, dtype=np.int64)
        row_of[features] = np.arange(len(features))
        bits, signs, buckets = self._structure(features)
        # Compact types: the cache may hold millions of entries.
        structure = (
            None if bits is None else bits.to(torch.int32),
            signs.to(torch.int8),
            buckets.to(torch.int32),
        )
        self._cached_structure = (row_of, structure)
        return True

    def _cache_rows(self, columns):
        """The cached structure's row of each of ``columns``, or None when
        the cache is not there or lacks one of them."""
        if self._cached_structure is None:
            return None
        rows = self._cached_structure[0][columns]
        return rows if len(rows) == 0 or rows.min() >= 0 else None

    def _structure_of(self, features):
        """The structure of ``features``: from the cache if it has them all,
        else hashed now."""
        rows = self._cache_rows(features)
        if rows is not None:
            return _select_rows(self._cached_structure[1], rows)
        return self._structure(features)

    def _batch_structure(self, X):
        """``(structure, rows)`` for CSR batch ``X``: a structure and the
        row of it that each non-zero of ``X`` uses. The cache when it holds
        every column of ``X`` (the batch is not renumbered), else the
        structure of the columns present, hashed now."""
        rows = self._cache_rows(X.indices)
        if rows is not None:
            return self._cached_structure[1], rows
        features, X_present = present_columns(X)
        return self._structure(features), X_present.indices.astype(np.int64)

    def _kernel_batch(self, X):
        """The arguments of the compiled kernels for CSR batch ``X``."""
        structure, rows = self._batch_structure(X)
        bits, signs, buckets = (t.cpu().numpy() for t in structure)
        return _KernelBatch(
            indptr=X.indptr.astype(np.int64),
            rows=rows,
            data=np.asarray(X.data, dtype=np.float32),
            bits=bits.astype(np.int32, copy=False),
            signs=signs.astype(np.int8, copy=False),
            buckets=buckets.astype(np.int32, copy=False),
            n_slots=self.n_slots,
            n_bits=self.n_bits,
        )

    def _identity_batch(self):
        """The identity matrix as a batch of the compiled kernels: its
        projection is the dense rows of the projection, ``_rows`` of every
        feature, with the same products added in the same order."""
        if self._identity is None:
            n = self.n_features
            bits, signs, buckets = (t.cpu().numpy() for t in self._dense_structure)
            self._identity = _KernelBatch(
                indptr=np.arange(n + 1, dtype=np.int64),
                rows=np.arange(n, dtype=np.int64),
                data=np.ones(n, dtype=np.float32),
                bits=bits.astype(np.int32),
                signs=signs.astype(np.int8),
                buckets=buckets.astype(np.int32),
                n_slots=self.n_slots,
                n_bits=self.n_bits,
            )
        return self._identity

    def slot_arrays(self, n_features):
        """The bits, signs and weight indices of every feature's slots, as
        the compiled kernels take them: int32, int8 and int32 arrays of
        shape ``(n_features, n_slots)``, hashed once."""
        if self._dense_structure is None:
            self._dense_structure = self._structure(np.arange(n_features))
        batch = self._identity_batch()
        return batch.bits, batch.signs, batch.buckets

    def _rows(self, structure, n_rows):
        """The projection rows as a dense ``(n_rows, n_bits)`` tensor."""
        bits, signs, buckets = structure
        values = signs * self.weight[buckets]
        if bits is None:
            return values
        flat = (torch.arange(n_rows, device=values.device)[:, None] * self.n_bits + bits).ravel()
        rows = torch.zeros(n_rows * self.n_bits, device=values.device)
        return rows.index_add(0, flat, values.ravel()).view(n_rows, self.n_bits)

    def projection_by_kernels(self, X):
        """``(z, saved)``: the batch's ``<x, p_k>`` (before the threshold)
        by the compiled kernels, outside autograd, and what
        :meth:`weight_grad_by_kernels` needs. For a projection with slots,
        on the CPU, with the kernels built (see :func:`by_hand_applies`)."""
        if sp.issparse(X):
            batch = self._kernel_batch(sp.csr_matrix(X))
            return _projection_by_kernels(self.weight, batch), (batch, None)
        if self._dense_structure is None:
            self._dense_structure = self._structure(np.arange(X.shape[1]))
        X = np.ascontiguousarray(X, dtype=np.float32)
        batch = self._identity_batch()
        P = _projection_by_kernels(self.weight, batch)
        return _dense_product_by_kernel(X, P), (batch, X)

    def weight_grad_by_kernels(self, saved, grad_z):
        """The gradient of the shared weights from that of
        :meth:`projection_by_kernels`' output."""
        batch, X = saved
        if X is not None:  # the gradient of the dense rows first
            grad_z = _dense_product_by_kernel(X, grad_z, transpose=True)
        return _projection_grad_by_kernels(batch, len(self.weight), grad_z)

    def forward(self, X):
        device = self.weight.device
        if not sp.issparse(X):
            if self._dense_structure is None:
                self._dense_structure = self._structure(np.arange(X.shape[1]))
            if dense_product is None or device.type != "cpu":
                P = self._rows(self._dense_structure, X.shape[1])
                return to_tensor(X, device) @ P - self.threshold
            if self.n_slots is not None:
                P = _CompiledProjection.apply(self.weight, self._identity_batch())
            else:
                P = self._rows(self._dense_structure, X.shape[1])
            return _DenseProduct.apply(P, X) - self.threshold
        X = sp.csr_matrix(X)
        if self.n_slots is not None and train_projection is not None and device.type == "cpu":
            # The compiled kernels take the CSR arrays as they are.
            Z = _CompiledProjection.apply(self.weight, self._kernel_batch(X))
            return Z - self.threshold
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        data = torch.from_numpy(np.asarray(X.data, dtype=np.float32)).to(device)
        if self.n_slots is None:
            features, X_present = present_columns(X)
            X_present = torch.sparse_coo_tensor(
                torch.from_numpy(np.vstack([rows, X_present.indices])),
                data,
                (X.shape[0], len(features)),
                # scipy already guarantees a valid structure.
                check_invariants=False,
            ).to(device)
            structure = self._structure_of(features)
            Z = torch.sparse.mm(X_present, self._rows(structure, len(features)))
        else:
            # O(nnz * n_slots): each non-zero adds itself to its slots' bits.
            structure, structure_rows = self._batch_structure(X)
            bits, signs, buckets = _select_rows(structure, structure_rows)
            weights = self.weight.index_select(0, buckets.ravel()).view(buckets.shape)
            values = data[:, None] * signs * weights
            flat = torch.from_numpy(rows).to(device)[:, None] * self.n_bits + bits.long()
            Z = torch.zeros(X.shape[0] * self.n_bits, device=device)
            Z = Z.index_add(0, flat.ravel(), values.ravel()).view(X.shape[0], self.n_bits)
        return Z - self.threshold


def by_hand_applies(student):
    """Whether :func:`student_loss_by_hand` takes ``student``: the default
    student (a trained projection with slots that the compiled kernels
    compute on the CPU, and one linear layer), every parameter trained."""
    if not isinstance(student, Student) or student.projection is None:
        return False
    projection, layers = student.projection, list(student.mlp)
    kernels = (train_projection, train_projection_grad, dense_product, column_std)
    return (
        len(layers) == 1
        and isinstance(layers[0], nn.Linear)
        and None not in kernels
        and straight_through_grad is not None
        and projection.n_slots is not None
        and projection.weight.device.type == "cpu"
        and all(p.requires_grad for p in student.parameters())
    )


def student_loss_by_hand(student, inputs, y, weight, student_weight):
    """The loss ``student_weight * CE(student(inputs), y)``, averaged with
    the sample weights ``weight`` as :func:`~sklearn_pnet._training.
    joint_loss` averages it, and its gradient in each parameter's
    ``.grad``, by the operations that autograd runs for it, in its order:
    the same numbers (``tests/test_training.py`` compares them bit for
    bit), without the graph. Returns ``(loss, logits)``. For a student that
    :func:`by_hand_applies` to.

    Autograd's bookkeeping, and the Python of the two compiled nodes, were
    a third of a step on the small training sets, whose steps are short
    (``benchmarks/SPEED.md``, "Eleventh session").
    """
    projection, (linear,) = student.projection, list(student.mlp)
    with torch.no_grad():
        z, saved = projection.projection_by_kernels(inputs)
        z = z - projection.threshold
        scale = _straight_through_scale(z)
        bits = _bits_of(z)
        logits = F.linear(bits, linear.weight, linear.bias)
        # F.cross_entropy(logits, y, reduction="none") is these two.
        log_p = torch.log_softmax(logits, 1)
        per_sample = student_weight * F.nll_loss(log_p, y, reduction="none")
        weight_sum = weight.sum()
        loss = (per_sample * weight).sum() / weight_sum
        # Backward, node by node as autograd goes: the division, the sum,
        # the sample weights, the term's weight, nll_loss, log_softmax...
        grad = (torch.ones(()) / weight_sum).expand(len(y)) * weight * student_weight
        grad = torch.ops.aten.nll_loss_backward(grad, log_p, y, None, 0, -100, torch.zeros(()))
        grad = torch.ops.aten._log_softmax_backward_data(grad, log_p, 1, log_p.dtype)
        # ... the linear layer (addmm) ...
        linear.bias.grad = grad.sum(0)
        linear.weight.grad = grad.t().mm(bits)
        grad = grad.mm(linear.weight)
        # ... the straight-through bits, the threshold, the projection.
        grad = _straight_through_grad(z, scale, grad)
        projection.threshold.grad = (-grad).sum(0)  # not -sum: +0.0 where all are 0
        projection.weight.grad = projection.weight_grad_by_kernels(saved, grad)
    return loss, logits


def _select_rows(structure, rows):
    """Rows ``rows`` (numpy) of the tensors of a structure, as the torch
    expressions use them: signs float32, weight indices int64.
    ``index_select``: several times faster than indexing with a tensor."""
    rows = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(structure[1].device)
    bits, signs, buckets = (None if t is None else t.index_select(0, rows) for t in structure)
    return bits, signs.to(torch.float32), buckets.long()


@dataclass(frozen=True)
class _KernelBatch:
    """A CSR batch and its projection structure, as the compiled kernels
    take them (see :meth:`HashedProjection._kernel_batch`)."""

    indptr: np.ndarray  # int64 (n_rows + 1,)
    rows: np.ndarray  # int64 (nnz,): the structure row of each non-zero
    data: np.ndarray  # float32 (nnz,)
    bits: np.ndarray  # int32 (n_structure_rows, n_slots)
    signs: np.ndarray  # int8, same shape
    buckets: np.ndarray  # int32, same shape
    n_slots: int
    n_bits: int

    def arrays(self):
        return self.indptr, self.rows, self.data, self.bits, self.signs, self.buckets


def _projection_by_kernels(weight, batch):
    """``train_projection`` of ``batch`` (a :class:`_KernelBatch`) with the
    shared weights ``weight``: a new ``(n_rows, n_bits)`` tensor."""
    out = torch.empty(len(batch.indptr) - 1, batch.n_bits)
    weight = weight.detach().contiguous()
    train_projection(*batch.arrays(), weight.numpy(), out.numpy(), batch.n_slots, batch.n_bits)
    return out


def _projection_grad_by_kernels(batch, n_weights, grad_out):
    """The gradient of :func:`_projection_by_kernels` with respect to the
    weights, from that of its output."""
    grad_weight = torch.empty(n_weights)
    grad_out = grad_out.contiguous().to(torch.float32)
    train_projection_grad(
        *batch.arrays(), grad_weight.numpy(), grad_out.numpy(), batch.n_slots, batch.n_bits
    )
    return grad_weight


def _dense_product_by_kernel(X, P, transpose=False):
    """``X @ P`` (or ``X.T @ P``) for a float32 C-ordered numpy ``X``, by
    the compiled kernel: a new tensor."""
    P = P.detach().contiguous().to(torch.float32)
    out = torch.empty(X.shape[1] if transpose else X.shape[0], P.shape[1])
    dense_product(X, P.numpy(), out.numpy(), X.shape[0], X.shape[1], P.shape[1], transpose)
    return out


class _CompiledProjection(torch.autograd.Function):
    """The trained projection of a CSR batch, and its gradient with respect
    to the shared weights, by the compiled kernels.

    The same numbers as the torch expression of
    :meth:`HashedProjection.forward` (``zeros.index_add(flat, (data *
    signs) * weight[buckets])``) and as autograd's gradient through it: the
    kernels round each product and add in the same order
    (``sklearn_pnet/_kernels.c``). They skip the (nnz, n_slots) temporaries
    that the expression builds and its autograd keeps, which took most of
    a sparse training step (``benchmarks/SPEED.md``, "Training steps").
    """

    @staticmethod
    def forward(ctx, weight, batch):
        ctx.batch, ctx.n_weights = batch, weight.shape[0]
        return _projection_by_kernels(weight, batch)

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.needs_input_grad[0]:
            return None, None
        return _projection_grad_by_kernels(ctx.batch, ctx.n_weights, grad_out), None


class _DenseProduct(torch.autograd.Function):
    """``X @ P`` for a dense batch ``X`` (numpy) and the projection's dense
    rows ``P``, and its gradient ``X.T @ grad`` with respect to ``P``, by
    the compiled kernel ``dense_product``.

    The kernel skips the zeros of ``X`` (four fifths of MNIST's pixels):
    2.4 times faster than torch's matrix products on a 200-row MNIST batch
    (0.29 and 0.31 ms against 0.71 and 0.71, one thread), which were half
    of a training step (``benchmarks/SPEED.md``). Its order of additions is
    fixed (see ``_kernels.c``), so a fit gives the same model on any CPU it
    builds for; torch's products round differently, so a fit without the
    compiled kernels (or on a GPU) differs from it in the last bits.
    """

    @staticmethod
    def forward(ctx, P, X):
        ctx.X = np.ascontiguousarray(X, dtype=np.float32)
        return _dense_product_by_kernel(ctx.X, P)

    @staticmethod
    def backward(ctx, grad_out):
        if not ctx.needs_input_grad[0]:
            return None, None
        return _dense_product_by_kernel(ctx.X, grad_out, transpose=True), None


def _kernel_ready(z, scale, grad):
    """Whether the compiled straight-through gradient takes these tensors
    as they are: float32 on the CPU, ``z`` a contiguous matrix, ``scale``
    one contiguous row."""
    tensors = (z, scale, grad)
    return (
        all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and z.dim() == 2
        and z.is_contiguous()
        and scale.is_contiguous()
        and grad.shape == z.shape
        and scale.shape == (1, z.shape[1])
    )


class _StraightThroughBits(torch.autograd.Function):
    """Autograd of :func:`straight_through_bits` in one node.

    The same numbers as autograd through ``(z > 0) + clamp(z / s, -1, 1) -
    clamp(...).detach()``: the forward value is the bits (the two clamp
    terms cancel exactly) and the gradient is ``grad * (|z / s| <= 1) / s``,
    which is what the clamp and the division pass back. Written
    as one function because those five generic nodes took 0.2 ms of a
    1.8 ms TREC step (``benchmarks/SPEED.md``, "Training steps").
    """

    @staticmethod
    def forward(ctx, z, scale):
        ctx.save_for_backward(z, scale)
        return _bits_of(z)

    @staticmethod
    def backward(ctx, grad):
        z, scale = ctx.saved_tensors
        return _straight_through_grad(z, scale, grad), None


def _bits_of(z):
    """``(z > 0)`` as ``z``'s type: compared straight into it, as
    ``(z > 0).to(z.dtype)`` makes a bool tensor first and took four times
    as long (23 us for 200 x 256)."""
    bits = torch.empty_like(z)
    return torch.gt(z, 0, out=bits)


def _straight_through_grad(z, scale, grad):
    """``grad * (|z / scale| <= 1) / scale``, by the compiled kernel where
    it takes these tensors."""
    if straight_through_grad is not None and _kernel_ready(z, scale, grad):
        grad = grad.contiguous()
        out = torch.empty_like(grad)
        straight_through_grad(z.numpy(), scale.numpy(), grad.numpy(), out.numpy(), *z.shape)
        return out
    inside = (z / scale).abs() <= 1.0
    # A product with the mask: four times faster than torch.where on the
    # CPU, and the same values (a zero may come out as -0.0).
    return grad * inside / scale


def batch_std(z):
    """``z.std(dim=0, correction=0, keepdim=True)``, by the compiled kernel
    where it applies: the same float32 values (the kernel repeats torch's
    Welford recurrence), nine times faster on a 200 x 256 batch."""
    if column_std is None or z.device.type != "cpu" or z.dtype != torch.float32 or len(z) == 0:
        return z.std(dim=0, correction=0, keepdim=True)
    z = z.contiguous()
    scale = torch.empty(1, z.shape[1])
    column_std(z.numpy(), scale.numpy(), z.shape[0], z.shape[1])
    return scale


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
    threshold, and made trained bits worse than random ones on
    Fashion-MNIST (``benchmarks/VALIDATION.md``, "The straight-through
    gradient of the trained projection").
    """
    return _StraightThroughBits.apply(z, _straight_through_scale(z.detach()))


def _straight_through_scale(z):
    """Each bit's standard deviation over the batch, 1 where it is 0."""
    scale = batch_std(z)
    return torch.where(scale > 0, scale, torch.ones_like(scale))


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


def linear_layers(mlp):
    """The ``nn.Linear`` layers of an MLP, in order."""
    return [m for m in mlp if isinstance(m, nn.Linear)]


def student_weights(mlp):
    """The MLP's Linear layers as float32 numpy ``(coefs, intercepts)``,
    ``coefs[i]`` of shape ``(n_in, n_out)`` as in scikit-learn's MLP."""
    linears = linear_layers(mlp)
    coefs = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
    intercepts = [m.bias.detach().cpu().numpy().copy() for m in linears]
    return coefs, intercepts


def stored_weights(student):
    """The student's parameters that ``weight_dtype`` and ``weight_clusters``
    store compactly: its Linear weights and a trained projection's weights
    (not the biases or the thresholds)."""
    weights = [m.weight for m in linear_layers(student.mlp)]
    if student.projection is not None:
        weights.append(student.projection.weight)
    return weights


def load_student_weights(mlp, coefs, intercepts):
    """Inverse of :func:`student_weights` (for ``warm_start``)."""
    linears = linear_layers(mlp)
    with torch.no_grad():
        for m, coef, intercept in zip(linears, coefs, intercepts):
            m.weight.copy_(torch.from_numpy(np.asarray(coef, dtype=np.float32).T))
            m.bias.copy_(torch.from_numpy(np.asarray(intercept, dtype=np.float32)))
