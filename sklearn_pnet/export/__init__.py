"""Run a fitted model without Python: self-contained C99, and ONNX."""

# SPDX-License-Identifier: BSD-3-Clause

from ._c import FORMAT_VERSION, write_c

__all__ = ["FORMAT_VERSION", "export_c", "register_onnx_converters"]


def export_c(model, out_dir, *, name="model", main=True):
    """Write a fitted model as self-contained C99 source files.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted ``ProjectionNetClassifier``, ``LSHProjector`` or
        ``HashedNetClassifier``, or a pipeline of an optional
        ``HashingVectorizer`` or ``FastHashingVectorizer`` (then the
        export has a text front end),
        optionally followed by stateless steps on its raw counts
        (``norm=None, alternate_sign=False``): a
        ``TfidfTransformer(use_idf=False)``, or
        ``FunctionTransformer(np.log1p)`` and an optional ``Normalizer``;
        and one of them. Nested pipelines are read as one.
    out_dir : str or Path
        Folder to write into (created if needed).
    name : str, default="model"
        C identifier of the model: ``<name>.h`` declares ``const pnet_model
        <name>`` and the sizes ``<NAME>_N_FEATURES``,
        ``<NAME>_SCRATCH_DOUBLES``, ...
    main : bool, default=True
        Also write ``main.c``, a command-line classifier reading one sample
        a line from standard input.

    Returns
    -------
    paths : list of Path
        The files written: ``<name>.h``, ``<name>.c``, the runtime
        (``pnet_hash.[ch]``, ``pnet_runtime.[ch]``, ``pnet_text.c``) and
        ``main.c``. ``cc -O2 -o classify OUT_DIR/*.c -lm`` builds the
        classifier; DEVICE.md documents the format.

    Examples
    --------
    >>> import shutil, subprocess, tempfile
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_pnet import LSHProjector
    >>> from sklearn_pnet.export import export_c
    >>> X, _ = load_digits(return_X_y=True)
    >>> projector = LSHProjector(n_bits=16, random_state=0).fit(X)
    >>> out = tempfile.mkdtemp()
    >>> sorted(p.name for p in export_c(projector, out, name="digits_bits"))[:3]
    ['digits_bits.c', 'digits_bits.h', 'main.c']
    >>> if shutil.which("cc"):  # a C compiler: compile and project one image
    ...     _ = subprocess.run(f"cc -O2 -o {out}/bits {out}/*.c -lm", shell=True, check=True)
    ...     line = ",".join(str(v) for v in X[0]) + "\\n"
    ...     done = subprocess.run([f"{out}/bits"], input=line, capture_output=True, text=True)
    ...     bits = done.stdout.strip()
    ... else:
    ...     bits = ",".join(str(b) for b in projector.transform(X[:1])[0])
    >>> bits == ",".join(str(b) for b in projector.transform(X[:1])[0])
    True
    """
    return write_c(model, out_dir, name=name, main=main)


def register_onnx_converters():
    """Register converters so that ``skl2onnx.to_onnx`` converts
    ``ProjectionNetClassifier`` and ``LSHProjector`` (and pipelines ending
    in them); needs the ``onnx`` extra (skl2onnx, onnxruntime).

    The projection is computed in the graph from the seed (opset 18); only
    dense input is supported. Returns nothing.
    """
    from ._onnx import register

    register()
