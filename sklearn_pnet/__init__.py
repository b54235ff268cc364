"""Compact neural classifiers for on-device use, in scikit-learn."""

# SPDX-License-Identifier: BSD-3-Clause

from ._compact import model_size_bytes
from .classifier import ProjectionNetClassifier
from .projection import LSHProjector

__all__ = ["LSHProjector", "ProjectionNetClassifier", "model_size_bytes"]
__version__ = "0.1.0"
