"""Loading models without running code: the types to trust with skops.

A ``joblib``/``pickle`` file is a program: loading one runs whatever code
it names. ``skops.io`` stores the same models in a format that is only
data, and loads it only where every type it holds is trusted by the
caller::

    import skops.io as sio
    from sklearn_pnet import SKOPS_TRUSTED_TYPES

    sio.dump(model, "model.skops")
    model = sio.load("model.skops", trusted=SKOPS_TRUSTED_TYPES)

``tests/test_safe_loading.py`` dumps and loads every estimator this way.
"""

# SPDX-License-Identifier: BSD-3-Clause

# Every type a fitted model of this package holds beyond what skops trusts
# by default (numpy arrays, builtins, scikit-learn's own types):
# the estimators, the compact forms of their weights, and the text front
# end FastHashingVectorizer (a HashingVectorizer with its counting in C,
# no state of its own). A kept teacher
# (``keep_teacher=True``) is a torch module, which skops cannot store:
# call ``trim_for_prediction()`` first.
SKOPS_TRUSTED_TYPES = [
    # LSHProjector.dtype_: skops rebuilds it from its string, e.g. "uint8".
    "numpy.dtype",
    "sklearn_pnet._hashed_net.HashedNetClassifier",
    "sklearn_pnet._linear_path.LinearPath",
    "sklearn_pnet._lsh_projector.LSHProjector",
    "sklearn_pnet._projection_net.ProjectionNetClassifier",
    "sklearn_pnet._storage.ClusteredArray",
    "sklearn_pnet._storage.PrunedMatrix",
    "sklearn_pnet._storage.QuantizedArray",
    "sklearn_pnet._text.FastHashingVectorizer",
]
