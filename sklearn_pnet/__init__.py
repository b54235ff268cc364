"""Compact neural classifiers for on-device use, in scikit-learn."""

# SPDX-License-Identifier: BSD-3-Clause

from ._hashed_net import HashedNetClassifier
from ._lsh_projector import LSHProjector
from ._model_format import InconsistentVersionWarning, register_moved_modules
from ._projection_net import ProjectionNetClassifier
from ._safe_loading import SKOPS_TRUSTED_TYPES
from ._size import model_size_bytes
from ._text import FastHashingVectorizer

__all__ = [
    "FastHashingVectorizer",
    "HashedNetClassifier",
    "InconsistentVersionWarning",
    "LSHProjector",
    "ProjectionNetClassifier",
    "SKOPS_TRUSTED_TYPES",
    "model_size_bytes",
]
# 0.2.0: the modules were reorganised (0.1.0 files still load, see
# _model_format) and fitted models record this version.
__version__ = "0.2.0"

register_moved_modules()
