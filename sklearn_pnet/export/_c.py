"""Write a fitted model as self-contained C99 sources (format version 1).

The weights go into the file in their stored form (int8 codes and scales,
float16 bits, k-means bit planes and centroids, pruned columns), never
decoded to float32; the projection and hashed layers are recomputed from
their seeds by ``c/pnet_hash.c``. ``DEVICE.md`` documents every array.
"""

# SPDX-License-Identifier: BSD-3-Clause

import re
import shutil
from pathlib import Path

import numpy as np

# The package's storage forms: the one import to retarget when they move.
from .. import _storage
from .._text import COMPILED_SETTINGS

FORMAT_VERSION = 1

C_DIR = Path(__file__).parent / "c"
RUNTIME_FILES = ("pnet_hash.h", "pnet_hash.c", "pnet_runtime.h", "pnet_runtime.c", "pnet_text.c")

# HashingVectorizer settings the C front end reproduces (FastHashingVectorizer's
# compiled tokeniser's, and the UTF-8 text and float64 counts of the C
# program); the rest must be left at these defaults.
_TEXT_DEFAULTS = {
    **COMPILED_SETTINGS,
    "encoding": "utf-8",
    "decode_error": "strict",
    "dtype": np.float64,
}


class _Arrays:
    """The ``static const`` arrays of one model file, named ``<name>_<suffix>``."""

    def __init__(self, name):
        self.name = name
        self.declarations = []

    def add(self, suffix, ctype, values, fmt=str):
        ident = f"{self.name}_{suffix}"
        values = np.ravel(values)
        # C has no empty arrays: an empty one (a layer pruned to nothing)
        # holds one unused zero; its size field says 0.
        items = [fmt(v) for v in values] if values.size else [fmt(np.zeros(1, values.dtype)[0])]
        rows = [", ".join(items[i : i + 12]) for i in range(0, len(items), 12)]
        body = ",\n    ".join(rows)
        self.declarations.append(
            f"static const {ctype} {ident}[{len(items)}] = {{\n    {body}\n}};"
        )
        return ident

    def floats(self, suffix, values):
        values = np.asarray(values, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError(f"{self.name}_{suffix} has non-finite values; nothing to export.")
        # 9 significant digits round-trip every float32 exactly.
        return self.add(suffix, "float", values, lambda v: f"{float(v):.8e}f")

    def values(self, suffix, stored):
        """A ``pnet_values`` initializer for a 1-D or 2-D array in any stored form."""
        if isinstance(stored, _storage.QuantizedArray):
            codes = self.add(f"{suffix}_codes", "int8_t", np.ascontiguousarray(stored.codes))
            scale = self.floats(f"{suffix}_scale", stored.scale)
            n_cols = stored.shape[1] if len(stored.shape) == 2 else 0
            return (
                f"{{.form = PNET_INT8, .size = {int(np.prod(stored.shape))}u, "
                f".n_cols = {n_cols}u, .f32 = {scale}, .i8 = {codes}}}"
            )
        if isinstance(stored, _storage.ClusteredArray):
            centroids = self.floats(f"{suffix}_centroids", stored.centroids)
            # LZMA-coded codes go into the C file in bit planes: a device
            # has no LZMA, so it stores ceil(log2(k)) bits per weight.
            packed = stored.bit_planes()
            planes = self.add(f"{suffix}_planes", "uint8_t", packed, lambda v: f"0x{int(v):02x}")
            return (
                f"{{.form = PNET_KMEANS, .size = {int(np.prod(stored.shape))}u, "
                f".f32 = {centroids}, .planes = {planes}, "
                f".n_code_bits = {stored.n_code_bits}u, .plane_bytes = {packed.shape[1]}u}}"
            )
        stored = np.asarray(stored)
        if stored.dtype == np.float16:
            halves = self.add(suffix, "uint16_t", stored.ravel().view(np.uint16))
            return f"{{.form = PNET_F16, .size = {stored.size}u, .f16 = {halves}}}"
        if stored.dtype != np.float32:
            raise TypeError(f"cannot export weights of dtype {stored.dtype} ({suffix}).")
        return f"{{.form = PNET_F32, .size = {stored.size}u, .f32 = {self.floats(suffix, stored)}}}"


def _projection(arrays, projector):
    weights = projector.weights_
    trained = weights is not None
    fields = [
        f".seed = {int(projector.seed_)}u",
        f".n_features = {int(projector.n_features_in_)}u",
        f".n_bits = {int(projector.n_bits)}u",
        f".n_slots = {int(projector.n_slots_ or 0)}u",
        f".trained = {int(trained)}",
        f".threshold = {arrays.floats('threshold', projector.threshold_)}",
    ]
    if trained:
        fields.append(f".weights = {arrays.values('projection_weights', weights)}")
    return _struct("pnet_projection", f"{arrays.name}_projection", fields)


def _linear(arrays, path, scale):
    """The ``pnet_linear`` struct of a ProjectionNet's linear path."""
    fields = [
        f".seed = {int(path.seed)}u",
        f".n_buckets = {int(path.n_buckets)}u",
        f".n_scores = {int(path.coef.shape[0])}u",
        f".idf = {arrays.values('linear_idf', path.idf)}",
        f".coef = {arrays.values('linear_coef', path.coef)}",
        f".intercept = {arrays.values('linear_intercept', np.asarray(path.intercept, np.float32))}",
        f".scale = {float(scale)!r}",
    ]
    return _struct("pnet_linear", f"{arrays.name}_linear", fields)


def _dense_layer(arrays, i, coef, intercept):
    n_in, n_out = coef.shape
    fields = [f".n_in = {n_in}u", f".n_out = {n_out}u"]
    if isinstance(coef, _storage.PrunedMatrix):
        fields.append(f".w = {arrays.values(f'layer{i}_data', coef.data)}")
        fields.append(f".indptr = {arrays.add(f'layer{i}_indptr', 'uint32_t', coef.indptr)}")
        wide = coef.indices.dtype == np.uint32
        rows = arrays.add(f"layer{i}_rows", "uint32_t" if wide else "uint16_t", coef.indices)
        fields.append(f".{'rows32' if wide else 'rows16'} = {rows}")
    else:
        if not isinstance(coef, (_storage.QuantizedArray, _storage.ClusteredArray)):
            coef = np.ascontiguousarray(coef)
        fields.append(f".w = {arrays.values(f'layer{i}_w', coef)}")
    fields.append(f".bias = {arrays.values(f'layer{i}_bias', intercept)}")
    return "{" + ", ".join(fields) + "}"


def _hashed_layer(arrays, i, weights, intercept, seed, n_in, n_out):
    fields = [
        f".n_in = {n_in}u",
        f".n_out = {n_out}u",
        f".seed = {int(seed)}u",
        f".w = {arrays.values(f'layer{i}_w', weights)}",
        f".hashed_bias = {int(intercept is None)}",
    ]
    if intercept is not None:
        fields.append(f".bias = {arrays.values(f'layer{i}_bias', intercept)}")
    return "{" + ", ".join(fields) + "}"


def _struct(ctype, ident, fields, static=True):
    body = ",\n    ".join(fields)
    return f"{'static ' if static else ''}const {ctype} {ident} = {{\n    {body}\n}};"


def _text(arrays, vectorizer, text_steps=()):
    """The ``pnet_text`` struct of a HashingVectorizer and the stateless
    steps after it (see :func:`_split_pipeline`), or an error naming the
    setting that the C front end does not reproduce."""
    from sklearn.feature_extraction.text import TfidfTransformer

    params = vectorizer.get_params()
    for key, default in _TEXT_DEFAULTS.items():
        value = params[key]
        same = value == default if key != "ngram_range" else tuple(value) == default
        if not same:
            raise NotImplementedError(
                f"the C text front end reproduces HashingVectorizer with {key}={default!r} "
                f"only, got {value!r}."
            )
    norm, sublinear = params["norm"], 0
    if text_steps:
        # The steps take the counts as they are: normalised or signed counts
        # would make their logarithm another function.
        if norm is not None or params["alternate_sign"]:
            raise NotImplementedError(
                "before a TfidfTransformer or log1p, the C text front end takes raw counts: "
                "HashingVectorizer(norm=None, alternate_sign=False)."
            )
        first, *rest = text_steps
        if isinstance(first, TfidfTransformer):
            if first.use_idf:
                raise NotImplementedError(
                    "the C text front end reproduces TfidfTransformer with use_idf=False only: "
                    "idf keeps one weight per column (n_features of them)."
                )
            norm, sublinear = first.norm, int(first.sublinear_tf)
        else:  # FunctionTransformer(np.log1p), then an optional Normalizer
            norm, sublinear = (rest[0].norm if rest else None), 2
    norms = {None: 0, "l1": 1, "l2": 2}
    if norm not in norms:
        raise NotImplementedError(f"the C text front end has no norm {norm!r}.")
    fields = [
        f".n_features = {int(params['n_features'])}u",
        f".alternate_sign = {int(params['alternate_sign'])}",
        f".norm = {norms[norm]}",
        f".binary = {int(params['binary'])}",
        f".sublinear = {sublinear}",
    ]
    return _struct("pnet_text", f"{arrays.name}_text", fields)


def _flat_steps(model):
    """A pipeline's steps, nested pipelines expanded, skipped steps left out."""
    if not hasattr(model, "steps"):
        return [model]
    return [
        leaf
        for _, step in model.steps
        if step not in (None, "passthrough")
        for leaf in _flat_steps(step)
    ]


def _split_pipeline(model):
    """``(vectorizer or None, text steps, final estimator)`` of an estimator
    or pipeline: an optional HashingVectorizer, then the stateless steps the
    C front end reproduces after it (a ``TfidfTransformer(use_idf=False)``,
    or ``FunctionTransformer(np.log1p)`` and an optional ``Normalizer``),
    then the estimator."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.preprocessing import FunctionTransformer, Normalizer

    steps = _flat_steps(model)
    vectorizer = steps.pop(0) if isinstance(steps[0], HashingVectorizer) else None
    text_steps = []
    if vectorizer is not None and steps and isinstance(steps[0], TfidfTransformer):
        text_steps.append(steps.pop(0))
    elif vectorizer is not None and steps and _is_log1p(steps[0]):
        text_steps.append(steps.pop(0))
        if steps and isinstance(steps[0], Normalizer):
            text_steps.append(steps.pop(0))
    if len(steps) != 1 or isinstance(steps[0], (FunctionTransformer, Normalizer)):
        names = [type(step).__name__ for step in steps]
        raise NotImplementedError(
            "export_c takes an estimator, or a pipeline of an optional HashingVectorizer "
            "(then a TfidfTransformer(use_idf=False), or FunctionTransformer(np.log1p) and "
            f"a Normalizer) and the estimator; got the steps {names}."
        )
    return vectorizer, text_steps, steps[0]


def _is_log1p(step):
    from sklearn.preprocessing import FunctionTransformer

    return isinstance(step, FunctionTransformer) and step.func is np.log1p and not step.kw_args


def _model_source(arrays, model):
    """Definitions of a model's structs; returns ``(source, header facts)``."""
    from .. import HashedNetClassifier, LSHProjector, ProjectionNetClassifier

    vectorizer, text_steps, estimator = _split_pipeline(model)
    name = arrays.name
    parts = []
    # pnet_model's fields that differ by kind; the rest are NULL.
    fields = {
        "projection": "NULL",
        "n_layers": "0u",
        "layers": "NULL",
        "hashed_layers": "NULL",
        "linear": "NULL",
    }
    if isinstance(estimator, ProjectionNetClassifier):
        projector = estimator.projector_
        parts.append(_projection(arrays, projector))
        layers = [
            _dense_layer(arrays, i, coef, intercept)
            for i, (coef, intercept) in enumerate(zip(estimator.coefs_, estimator.intercepts_))
        ]
        parts.append(_layer_array("pnet_dense_layer", f"{name}_layers", layers))
        fields.update(
            kind="PNET_PROJECTION_NET",
            projection=f"&{name}_projection",
            n_layers=f"{len(layers)}u",
            layers=f"{name}_layers",
        )
        # Two activations as wide as the widest layer (or the bits), the
        # projection's sums, and the linear path's buckets.
        width = max([projector.n_bits] + [coef.shape[1] for coef in estimator.coefs_])
        scratch = 2 * width + projector.n_bits
        path = getattr(estimator, "linear_path_", None)
        if path is not None:
            parts.append(_linear(arrays, path, estimator.linear_scale))
            fields["linear"] = f"&{name}_linear"
            # The buckets, and one sum a score.
            scratch += path.n_buckets + path.coef.shape[0]
        facts = {"n_outputs": len(estimator.classes_), "scratch": scratch}
    elif isinstance(estimator, HashedNetClassifier):
        sizes = estimator.layer_sizes_
        layers = [
            _hashed_layer(arrays, i, w, b, seed, n_in, n_out)
            for i, (w, b, seed, n_in, n_out) in enumerate(
                zip(estimator.weights_, estimator.intercepts_, estimator.seeds_, sizes, sizes[1:])
            )
        ]
        parts.append(_layer_array("pnet_hashed_layer", f"{name}_layers", layers))
        fields.update(
            kind="PNET_HASHED_NET", n_layers=f"{len(layers)}u", hashed_layers=f"{name}_layers"
        )
        # Two activations; the input is read where the caller holds it.
        facts = {"n_outputs": len(estimator.classes_), "scratch": 2 * max(sizes[1:])}
    elif isinstance(estimator, LSHProjector):
        parts.append(_projection(arrays, estimator))
        fields.update(kind="PNET_LSH", projection=f"&{name}_projection")
        # The projection's sums and the bits.
        facts = {"n_outputs": estimator.n_bits, "scratch": 2 * estimator.n_bits}
    else:
        raise NotImplementedError(
            f"export_c exports ProjectionNetClassifier, LSHProjector and HashedNetClassifier, "
            f"not {type(estimator).__name__}."
        )
    n_features = estimator.n_features_in_
    if vectorizer is not None:
        if vectorizer.n_features != n_features:
            raise ValueError("the HashingVectorizer's n_features differs from the model's input.")
        parts.append(_text(arrays, vectorizer, text_steps))
    model_fields = [
        f".format_version = {FORMAT_VERSION}u",
        f".kind = {fields['kind']}",
        f".n_features = {n_features}u",
        f".n_outputs = {facts['n_outputs']}u",
        f".projection = {fields['projection']}",
        f".n_layers = {fields['n_layers']}",
        f".layers = {fields['layers']}",
        f".hashed_layers = {fields['hashed_layers']}",
        f".text = {'&' + name + '_text' if vectorizer is not None else 'NULL'}",
        f".scratch_doubles = {facts['scratch']}u",
        f".linear = {fields['linear']}",
    ]
    parts.append(_struct("pnet_model", name, model_fields, static=False))
    facts.update(
        n_features=n_features,
        classifier=hasattr(estimator, "classes_"),
        classes=list(getattr(estimator, "classes_", [])),
        text=vectorizer is not None,
        n_bits=getattr(getattr(estimator, "projector_", estimator), "n_bits", 0),
    )
    return "\n\n".join(parts), facts


def _layer_array(ctype, ident, layers):
    body = ",\n    ".join(layers)
    return f"static const {ctype} {ident}[{len(layers)}] = {{\n    {body}\n}};"


def _c_string(label):
    text = str(label).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if 32 <= ord(ch) < 127 else f"\\x{ord(ch):02x}" for ch in text) + '"'


def _header(name, facts):
    upper = name.upper()
    lines = [
        f'/* Model "{name}" exported by sklearn-pnet, format version {FORMAT_VERSION}. */',
        f"#ifndef {upper}_H",
        f"#define {upper}_H",
        "",
        '#include "pnet_runtime.h"',
        "",
        f"#define {upper}_FORMAT_VERSION {FORMAT_VERSION}",
        f"#define {upper}_N_FEATURES {facts['n_features']}L",
        f"#define {upper}_N_OUTPUTS {facts['n_outputs']}  /* classes, or bits of a projector */",
        f"#define {upper}_N_BITS {facts['n_bits']}  /* 0: no projection */",
        f"#define {upper}_IS_CLASSIFIER {int(facts['classifier'])}",
        f"#define {upper}_HAS_TEXT {int(facts['text'])}",
        "/* Doubles of scratch that every call needs (pass double scratch[...]). */",
        f"#define {upper}_SCRATCH_DOUBLES {facts['scratch']}",
        f"#define {upper}_SCRATCH_BYTES ({upper}_SCRATCH_DOUBLES * 8)",
        "",
        f"extern const pnet_model {name};",
    ]
    if facts["classifier"]:
        lines.append("/* str() of each class of classes_, in order. */")
        lines.append(f"extern const char *const {name}_classes[{upper}_N_OUTPUTS];")
    lines += ["", f"#endif /* {upper}_H */", ""]
    return "\n".join(lines)


def _source(name, model):
    arrays = _Arrays(name)
    definitions, facts = _model_source(arrays, model)
    lines = [
        f'/* Model "{name}" exported by sklearn-pnet, format version {FORMAT_VERSION}:',
        " * weights in their stored form, see DEVICE.md. */",
        f'#include "{name}.h"',
        "",
        f"#if PNET_FORMAT_VERSION != {FORMAT_VERSION}",
        f'#error "{name}.c needs the sklearn-pnet runtime of format version {FORMAT_VERSION}"',
        "#endif",
        "",
        *arrays.declarations,
        "",
        definitions,
        "",
    ]
    if facts["classifier"]:
        labels = ", ".join(_c_string(label) for label in facts["classes"])
        lines += [f"const char *const {name}_classes[{len(facts['classes'])}] = {{{labels}}};", ""]
    return "\n".join(lines), facts


def write_c(model, out_dir, name="model", main=True):
    """Write ``<name>.h``, ``<name>.c``, the runtime and, with ``main``,
    ``main.c`` into ``out_dir``; returns the paths written."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.startswith("pnet_"):
        raise ValueError(f"name must be a C identifier not starting with 'pnet_', got {name!r}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source, facts = _source(name, model)
    written = [out_dir / f"{name}.h", out_dir / f"{name}.c"]
    written[0].write_text(_header(name, facts))
    written[1].write_text(source)
    for runtime in RUNTIME_FILES:
        written.append(Path(shutil.copyfile(C_DIR / runtime, out_dir / runtime)))
    if main:
        template = (C_DIR / "main.c.in").read_text()
        text = template.replace("@NAME_UPPER@", name.upper()).replace("@NAME@", name)
        written.append(out_dir / "main.c")
        written[-1].write_text(text)
    return written
