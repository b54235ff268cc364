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

import importlib
import inspect
import sys
import warnings

from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning

# Modules by name: the estimators' modules import this one (the version
# mixin below), so it imports none of them at load time.
MOVED_MODULES = {
    "sklearn_pnet.classifier": "sklearn_pnet._projection_net",
    "sklearn_pnet.projection": "sklearn_pnet._lsh_projector",
    "sklearn_pnet.hashednet": "sklearn_pnet._hashed_net",
    "sklearn_pnet._compact": "sklearn_pnet._storage",
}

# The key of the package version in a pickled estimator's state. Files
# dumped by 0.1.0 have none: that format is known and tested (see
# ``tests/test_model_format.py``), so they load without a warning.
VERSION_KEY = "_sklearn_pnet_version"
UNRECORDED_VERSION = "0.1.0"

# Where each estimator's documentation is: the README on the project page,
# at the section on that estimator. One place to change if the project
# moves or gets an API reference site.
DOCS_URL = "https://github.com/sklearn-pnet/sklearn-pnet/blob/main/README.md#{anchor}"
DOCS_ANCHORS = {
    "LSHProjector": "the-projection-lshprojector",
    "ProjectionNetClassifier": "joint-training-projectionnetclassifier",
    "HashedNetClassifier": "hashednets-hashednetclassifier",
}


class InconsistentVersionWarning(_SklearnVersionWarning):
    """A model is loaded by another version of sklearn-pnet than the one
    that dumped it.

    A subclass of scikit-learn's warning of the same name, so that a filter
    on scikit-learn's covers this one too.
    """

    def __str__(self):
        return (
            f"Trying to unpickle estimator {self.estimator_name} from sklearn-pnet "
            f"version {self.original_sklearn_version} when using version "
            f"{self.current_sklearn_version}. This might lead to breaking code or "
            "invalid results; refit the model with this version, or load it with the "
            "version that dumped it. See the README, section 'The model format'."
        )


class ModelFormatMixin:
    """Record the package version in a pickled estimator; warn when a
    model is loaded by another version, as scikit-learn does for its own
    estimators (it records ``_sklearn_version`` only for those).

    Also points the HTML representation's documentation link at the
    README's section on the estimator (:data:`DOCS_URL`).
    """

    _doc_link_module = "sklearn_pnet"
    _doc_link_template = DOCS_URL

    def _doc_link_url_param_generator(self):
        return {"anchor": DOCS_ANCHORS.get(type(self).__name__, "")}

    def __getstate__(self):
        from . import __version__

        return dict(super().__getstate__(), **{VERSION_KEY: __version__})

    def __setstate__(self, state):
        from . import __version__

        state = dict(state)
        version = state.pop(VERSION_KEY, UNRECORDED_VERSION)
        if version != __version__ and version != UNRECORDED_VERSION:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_sklearn_version=__version__,
                    original_sklearn_version=version,
                )
            )
        super().__setstate__(state)
        # Parameters added after the model was dumped take their defaults,
        # which keep the old behaviour (class_weight=None, linear_buckets=0,
        # ...): get_params, clone and repr then work on old models too.
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if parameter.default is not parameter.empty and name not in vars(self):
                setattr(self, name, parameter.default)


def register_moved_modules():
    """Let ``import sklearn_pnet.classifier`` (and the other old paths)
    resolve to the module that holds those classes now, as unpickling does.

    The import system returns a module it finds in ``sys.modules`` once the
    parent package is imported, so the old names need no files of their own.
    """
    for name, module in MOVED_MODULES.items():
        sys.modules.setdefault(name, importlib.import_module(module))
