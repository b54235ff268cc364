"""Train with torch, predict where torch is absent.

A fitted ``ProjectionNetClassifier`` keeps its student as numpy arrays and
recomputes its projection from a seed, so ``joblib.load`` and ``predict``
need numpy, scipy and scikit-learn only. The script trains a model, dumps
it, then loads it and predicts in a fresh Python process in which
``import torch`` fails (an import hook blocks it, as on a device where it
was never installed), and checks that the predictions are identical.

Run it from the project root::

    python examples/export_without_torch.py
    python examples/export_without_torch.py --small   # seconds
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_pnet import ProjectionNetClassifier

# Run in the fresh process: block torch, load the model, predict, save.
DEVICE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class NoTorch(importlib.abc.MetaPathFinder):
        # Refuse to find torch, as if it were not installed.
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "torch":
                raise ImportError("torch is not installed on this device")

    sys.meta_path.insert(0, NoTorch())
    try:
        import torch
    except ImportError:
        print("device: import torch fails, as intended")
    else:
        sys.exit("torch imported: the hook did not work")

    import joblib
    import numpy as np

    model_path, X_path, out_path = sys.argv[1:]
    clf = joblib.load(model_path)
    y = clf.predict(np.load(X_path))
    np.save(out_path, y)
    print(f"device: predicted {len(y)} rows; torch loaded: {'torch' in sys.modules}")
    """
)


def main(small=False):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.3, stratify=y, random_state=0
    )
    warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs, on purpose
    clf = ProjectionNetClassifier(
        n_bits=128, teacher_hidden_layer_sizes=(64,), max_iter=5 if small else 60, random_state=0
    )
    clf.fit(X_train, y_train)
    expected = clf.predict(X_test)

    with tempfile.TemporaryDirectory() as tmp:
        model_path, X_path, out_path = (
            str(Path(tmp) / f) for f in ("model.joblib", "X.npy", "y.npy")
        )
        joblib.dump(clf, model_path)
        np.save(X_path, X_test)
        # flush: the device process writes to the same terminal next.
        print(f"dumped the model: {Path(model_path).stat().st_size:,} bytes", flush=True)
        subprocess.run(
            [sys.executable, "-c", DEVICE_SCRIPT, model_path, X_path, out_path], check=True
        )
        predicted = np.load(out_path)

    identical = np.array_equal(predicted, expected)
    print(f"predictions without torch identical to the training process's: {identical}")
    print(f"test accuracy: {np.mean(predicted == y_test):.3f}")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="few epochs (seconds)")
    main(parser.parse_args().small)
