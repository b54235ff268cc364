"""Compact neural classifiers for on-device use, in scikit-learn."""

# SPDX-License-Identifier: BSD-3-Clause

from ._hashed_net import HashedNetClassifier
from ._lsh_projector import LSHProjector
from ._model_format import register_moved_modules
from ._projection_net import ProjectionNetClassifier
from ._size import model_size_bytes

__all__ = [
    "HashedNetClassifier",
    "LSHProjector",
    "ProjectionNetClassifier",
    "model_size_bytes",
]
__version__ = "0.1.0"

register_moved_modules()
