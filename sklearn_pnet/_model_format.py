"""The model format: what a pickled (``joblib.dump``) model refers to.

A pickle names each object's class by its module path. Models dumped by
sklearn-pnet 0.1.0 name modules that have since been reorganised; they are
mapped here onto the modules that now hold the same classes, with the same
attributes, so those files still load and predict identically
(``tests/test_model_format.py`` loads models dumped by 0.1.0).

=================================  =====================================
0.1.0 path (in old pickles)        holds today
=================================  =====================================
``sklearn_pnet.classifier``        ``sklearn_pnet._projection_net``
``sklearn_pnet.projection``        ``sklearn_pnet._lsh_projector``
``sklearn_pnet.hashednet``         ``sklearn_pnet._hashed_net``
``sklearn_pnet._compact``          ``sklearn_pnet._storage``
=================================  =====================================
"""

# SPDX-License-Identifier: BSD-3-Clause

import sys

from . import _hashed_net, _lsh_projector, _projection_net, _storage

MOVED_MODULES = {
    "sklearn_pnet.classifier": _projection_net,
    "sklearn_pnet.projection": _lsh_projector,
    "sklearn_pnet.hashednet": _hashed_net,
    "sklearn_pnet._compact": _storage,
}


def register_moved_modules():
    """Let ``import sklearn_pnet.classifier`` (and the other old paths)
    resolve to the module that holds those classes now, as unpickling does.

    The import system returns a module it finds in ``sys.modules`` once the
    parent package is imported, so the old names need no files of their own.
    """
    for name, module in MOVED_MODULES.items():
        sys.modules.setdefault(name, module)
