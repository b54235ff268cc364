"""Compact neural classifiers for on-device use, in scikit-learn."""

# SPDX-License-Identifier: BSD-3-Clause

from .classifier import ProjectionNetClassifier
from .projection import LSHProjector

__all__ = ["LSHProjector", "ProjectionNetClassifier"]
__version__ = "0.1.0"
