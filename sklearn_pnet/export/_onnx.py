"""skl2onnx converters for ``ProjectionNetClassifier`` and ``LSHProjector``.

The projection is not stored: the graph recomputes every entry from the
seed with ONNX integer operators (uint64 ``BitShift`` and ``BitwiseXor``;
the multiplications modulo 2**64 as int64 ``Mul``, which onnxruntime
wraps), so the file holds the weights in their stored form and stays about
the size of the joblib dump. Dense input only: the graph forms the
``n_features x n_bits`` projection (onnxruntime folds it into a constant
when the session starts, so it costs that memory, not file bytes).
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    UInt8TensorType,
    guess_proto_type,
)
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

from .. import _hashing, _storage

_M1, _M2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53
_GOLDEN, _COLUMN = 0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93
OPSET = 18  # BitwiseXor / BitwiseAnd


class _Graph:
    """Adds nodes and constants to a skl2onnx container, one name each."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container
        self.scalars = {}  # one initializer per scalar: the hash repeats a few

    def const(self, value):
        value = np.asarray(value)
        key = (value.dtype.str, value.item()) if value.ndim == 0 else None
        if key in self.scalars:
            return self.scalars[key]
        name = self.scope.get_unique_variable_name("c")
        tensor = numpy_helper.from_array(value, name)
        self.container.add_initializer(name, tensor.data_type, list(tensor.dims), tensor)
        if key is not None:
            self.scalars[key] = name
        return name

    def op(self, op_type, *inputs, output=None, **attrs):
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            op_version=OPSET,
            **attrs,
        )
        return output

    def cast(self, x, to):
        return self.op("Cast", x, to=to)

    # uint64 arithmetic modulo 2**64.
    def shr(self, x, n):
        return self.op("BitShift", x, self.const(np.uint64(n)), direction="RIGHT")

    def xor(self, a, b):
        return self.op("BitwiseXor", a, b)

    def mul(self, x, m):
        # onnxruntime has no uint64 Mul; int64 Mul wraps, and casts keep the bits.
        signed = self.cast(x, TensorProto.INT64)
        product = self.op("Mul", signed, self.const(np.array(m, dtype=np.uint64).view(np.int64)))
        return self.cast(product, TensorProto.UINT64)

    def fmix64(self, z):
        z = self.xor(z, self.shr(z, 33))
        z = self.mul(z, _M1)
        z = self.xor(z, self.shr(z, 33))
        z = self.mul(z, _M2)
        return self.xor(z, self.shr(z, 33))


def _pair_hashes(g, seed, stream, rows, n_cols):
    """``_hashing.pair_hashes`` in ONNX: rows is a uint64 (F,) tensor."""
    stream_key = np.uint64((stream * _GOLDEN) % 2**64)
    seed_key = g.fmix64(g.xor(g.const(np.uint64(seed)), g.const(stream_key)))
    keys = g.fmix64(g.xor(g.mul(rows, _GOLDEN), seed_key))
    cols = g.mul(g.const(np.arange(1, n_cols + 1, dtype=np.uint64)), _COLUMN)
    keys = g.op("Unsqueeze", keys, g.const(np.array([1], dtype=np.int64)))
    return g.fmix64(g.xor(keys, cols))


def _fast_range(g, hashes, n):
    product = g.mul(g.shr(hashes, 32), n)
    return g.cast(g.shr(product, 32), TensorProto.INT64)


def _signs(g, hashes):
    low = g.op("BitwiseAnd", hashes, g.const(np.uint64(1)))
    return _plus_minus(g, low)


def _plus_minus(g, bits):
    """0/1 (uint64) to -1/+1 (float32)."""
    as_float = g.cast(bits, TensorProto.FLOAT)
    return g.op("Sub", g.op("Mul", as_float, g.const(np.float32(2))), g.const(np.float32(1)))


def _decode(g, stored):
    """Float32 values of a stored weight array (decoded in the graph)."""
    if isinstance(stored, _storage.QuantizedArray):
        codes = g.cast(g.const(stored.codes), TensorProto.FLOAT)
        if len(stored.shape) == 2:
            return g.op("Mul", codes, g.const(stored.scale))
        # One scale per 256 values: pad to whole blocks, scale rows, unpad.
        n_blocks = len(stored.scale)
        pad = n_blocks * _storage.SCALE_BLOCK - stored.shape[0]
        padded = g.op("Pad", codes, g.const(np.array([0, pad], dtype=np.int64)))
        blocks = g.op("Reshape", padded, g.const(np.array([n_blocks, -1], dtype=np.int64)))
        scaled = g.op("Mul", blocks, g.const(stored.scale[:, None]))
        flat = g.op("Reshape", scaled, g.const(np.array([-1], dtype=np.int64)))
        return g.op(
            "Slice",
            flat,
            g.const(np.array([0], np.int64)),
            g.const(np.array(stored.shape, np.int64)),
        )
    if isinstance(stored, _storage.ClusteredArray):
        return _decode_kmeans(g, stored)
    stored = np.asarray(stored)
    if stored.dtype == np.float16:
        return g.cast(g.const(stored), TensorProto.FLOAT)
    return g.const(stored.astype(np.float32))


def _range(g, n):
    return g.op("Range", g.const(np.int64(0)), g.const(np.int64(n)), g.const(np.int64(1)))


def _decode_kmeans(g, stored):
    """Centroids gathered by codes unpacked from the bit planes."""
    index = _range(g, int(np.prod(stored.shape)))
    byte = g.op("Div", index, g.const(np.int64(8)))
    shift = g.cast(g.op("Mod", index, g.const(np.int64(8))), TensorProto.UINT8)
    codes, planes = None, stored.bit_planes()
    for b in range(stored.n_code_bits):
        plane = g.op("Gather", g.const(planes[b]), byte)
        bit = g.op("BitShift", plane, shift, direction="RIGHT")
        bit = g.cast(g.op("BitwiseAnd", bit, g.const(np.uint8(1))), TensorProto.INT64)
        bit = g.op("Mul", bit, g.const(np.int64(1 << b)))
        codes = bit if codes is None else g.op("Add", codes, bit)
    values = g.op("Gather", g.const(stored.centroids), codes)
    return g.op("Reshape", values, g.const(np.array(stored.shape, dtype=np.int64)))


def _decode_matrix(g, coef):
    """A layer's (n_in, n_out) float32 matrix; a pruned one scattered from
    its non-zeros. Returns ``(matrix, column scale or None)``."""
    if isinstance(coef, _storage.QuantizedArray):
        return g.cast(g.const(coef.codes), TensorProto.FLOAT), g.const(coef.scale)
    if not isinstance(coef, _storage.PrunedMatrix):
        return _decode(g, coef), None
    n_in, n_out = coef.shape
    columns = np.repeat(np.arange(n_out), np.diff(coef.indptr)).astype(coef.indices.dtype)
    rows = g.cast(g.const(coef.indices), TensorProto.INT64)
    cols = g.cast(g.const(columns), TensorProto.INT64)
    flat = g.op("Add", g.op("Mul", rows, g.const(np.int64(n_out))), cols)
    zeros = g.op(
        "ConstantOfShape",
        g.const(np.array([n_in * n_out], dtype=np.int64)),
        value=numpy_helper.from_array(np.zeros(1, np.float32)),
    )
    dense = g.op("ScatterElements", zeros, flat, _decode(g, coef.data), axis=0)
    return g.op("Reshape", dense, g.const(np.array([n_in, n_out], dtype=np.int64))), None


def _projection_matrix(g, projector):
    """The (n_features, n_bits) float32 projection, from the seed."""
    seed, n_bits, n_slots = projector.seed_, projector.n_bits, projector.n_slots_
    n_features = projector.n_features_in_
    rows = g.cast(_range(g, n_features), TensorProto.UINT64)
    if n_slots is None:
        n_words = -(-n_bits // 64)
        words = _pair_hashes(g, seed, _hashing.STREAM_DENSE, rows, n_words)
        k = np.arange(n_bits)
        words = g.op("Gather", words, g.const(k // 64), axis=1)
        bits = g.op("BitShift", words, g.const((k % 64).astype(np.uint64)), direction="RIGHT")
        values = _plus_minus(g, g.op("BitwiseAnd", bits, g.const(np.uint64(1))))
        n_cols = n_bits
    else:
        hashes = _pair_hashes(g, seed, _hashing.STREAM_SPARSE, rows, n_slots)
        slot_bits, values, n_cols = _fast_range(g, hashes, n_bits), _signs(g, hashes), n_slots
    weights = projector.weights_
    if weights is not None:
        n_weights = weights.shape[0]
        if n_weights >= n_features * n_cols:
            rows64 = g.op("Unsqueeze", _range(g, n_features), g.const(np.array([1], np.int64)))
            buckets = g.op(
                "Add",
                g.op("Mul", rows64, g.const(np.int64(n_cols))),
                g.const(np.arange(n_cols, dtype=np.int64)),
            )
        else:
            hashes = _pair_hashes(g, seed, _hashing.STREAM_PROJECTION_WEIGHT, rows, n_cols)
            buckets = _fast_range(g, hashes, n_weights)
        values = g.op("Mul", values, g.op("Gather", _decode(g, weights), buckets))
    if n_slots is None:
        return values
    zeros = g.op(
        "ConstantOfShape",
        g.const(np.array([n_features, n_bits], dtype=np.int64)),
        value=numpy_helper.from_array(np.zeros(1, np.float32)),
    )
    return g.op("ScatterElements", zeros, slot_bits, values, axis=1, reduction="add")


def _linear_scores(g, X, path, n_features, dtype):
    """The linear path's scores (sklearn_pnet._linear_path): the features
    folded into signed buckets (an (n_features, n_buckets) matrix from the
    seed, as the projection's), times idf, L2-normalised, times the
    coefficients, plus the intercepts."""
    rows = g.cast(_range(g, n_features), TensorProto.UINT64)
    hashes = _pair_hashes(g, path.seed, _hashing.STREAM_LINEAR, rows, 1)
    zeros = g.op(
        "ConstantOfShape",
        g.const(np.array([n_features, path.n_buckets], dtype=np.int64)),
        value=numpy_helper.from_array(np.zeros(1, np.float32)),
    )
    fold = g.op(
        "ScatterElements", zeros, _fast_range(g, hashes, path.n_buckets), _signs(g, hashes), axis=1
    )
    z = g.op("Mul", g.op("MatMul", X, g.cast(fold, dtype)), g.cast(_decode(g, path.idf), dtype))
    norm = g.op("ReduceL2", z, g.const(np.array([1], dtype=np.int64)), keepdims=1)
    # Rows without a feature keep their zeros, as sklearn's normalize leaves them.
    safe = g.op("Max", norm, g.cast(g.const(np.array(np.finfo(np.float32).tiny)), dtype))
    z = g.op("Div", z, safe)
    coef = g.op("Transpose", g.cast(_decode(g, path.coef), dtype), perm=[1, 0])
    return g.op("Add", g.op("MatMul", z, coef), g.cast(g.const(path.intercept), dtype))


def _bits(g, X, projector, dtype):
    """0/1 bits in ``dtype``, as ``projector.transform``."""
    P = g.cast(_projection_matrix(g, projector), dtype)
    Z = g.op("MatMul", X, P)
    above = g.op("Greater", Z, g.cast(g.const(projector.threshold_), dtype))
    return above


def convert_lsh_projector(scope, operator, container):
    g = _Graph(scope, container)
    dtype = guess_proto_type(operator.inputs[0].type)
    above = _bits(g, operator.inputs[0].full_name, operator.raw_operator, dtype)
    out_type = guess_proto_type(operator.outputs[0].type)
    g.op("Cast", above, output=operator.outputs[0].full_name, to=out_type)


def convert_projection_net(scope, operator, container):
    g = _Graph(scope, container)
    clf = operator.raw_operator
    dtype = guess_proto_type(operator.inputs[0].type)
    activation = g.cast(_bits(g, operator.inputs[0].full_name, clf.projector_, dtype), dtype)
    last = len(clf.coefs_) - 1
    for i, (coef, intercept) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        matrix, scale = _decode_matrix(g, coef)
        activation = g.op("MatMul", activation, g.cast(matrix, dtype))
        if scale is not None:  # int8: scale the product's columns, as numpy does
            activation = g.op("Mul", activation, g.cast(scale, dtype))
        bias = g.cast(g.const(np.asarray(intercept)), dtype)
        activation = g.op("Add", activation, bias)
        if i < last:
            activation = g.op("Relu", activation)
    path = getattr(clf, "linear_path_", None)
    if path is not None:
        scores = _linear_scores(g, operator.inputs[0].full_name, path, clf.n_features_in_, dtype)
        if len(clf.classes_) == 2:  # one score, the second class's
            scores = g.op(
                "Concat", g.op("Mul", scores, g.cast(g.const(np.zeros(1)), dtype)), scores, axis=1
            )
        scale = g.cast(g.const(np.array(clf.linear_scale)), dtype)
        activation = g.op("Add", activation, g.op("Mul", scores, scale))
    probabilities = g.op("Softmax", activation, axis=1)
    g.op(
        "Cast",
        probabilities,
        output=operator.outputs[1].full_name,
        to=guess_proto_type(operator.outputs[1].type),
    )
    index = g.op("ArgMax", activation, axis=1, keepdims=0)
    classes = clf.classes_
    if classes.dtype.kind in "iub":
        classes = classes.astype(np.int64)
    else:
        classes = classes.astype(str).astype(object)
    g.op("Gather", g.const(classes), index, output=operator.outputs[0].full_name, axis=0)


def lsh_output_shape(operator):
    n = operator.inputs[0].get_first_dimension()
    projector = operator.raw_operator
    if np.dtype(projector.dtype) == np.uint8:
        operator.outputs[0].type = UInt8TensorType([n, projector.n_bits])
    elif np.dtype(projector.dtype) == np.float64:
        operator.outputs[0].type = DoubleTensorType([n, projector.n_bits])
    else:
        operator.outputs[0].type = FloatTensorType([n, projector.n_bits])


def register():
    """Make ``skl2onnx.to_onnx`` convert ProjectionNetClassifier and LSHProjector."""
    from .. import LSHProjector, ProjectionNetClassifier

    update_registered_converter(
        ProjectionNetClassifier,
        "SklearnPnetProjectionNetClassifier",
        calculate_linear_classifier_output_shapes,
        convert_projection_net,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )
    update_registered_converter(
        LSHProjector, "SklearnPnetLSHProjector", lsh_output_shape, convert_lsh_projector
    )
