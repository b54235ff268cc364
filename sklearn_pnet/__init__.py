"""Compact neural classifiers for on-device use, in scikit-learn."""

# SPDX-License-Identifier: BSD-3-Clause

from ._compact import model_size_bytes
from .classifier import ProjectionNetClassifier
from .hashednet import HashedNetClassifier
from .projection import LSHProjector

__all__ = [
    "HashedNetClassifier",
    "LSHProjector",
    "ProjectionNetClassifier",
    "model_size_bytes",
]
__version__ = "0.1.0"
