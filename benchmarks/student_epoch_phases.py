"""Where a step of the compiled epoch spends its time, phase by phase.

Run from the project root::

    python benchmarks/student_epoch_phases.py --data-dir ../shared/data

The default student's steps on dense rows run in one compiled call
(``student_epoch``, ``sklearn_pnet/_student_epoch.c``), which a Python
profiler sees as one line. This script builds a copy of the compiled
module with the kernel's phase timers (``-DSTUDENT_EPOCH_TIMERS``; the
installed module has none), fits ``ProjectionNetClassifier(random_state=0)``
with it on each dataset, and prints each phase's microseconds per step and
share of the step, on one thread (the timers add up one thread's phases).
The timers cost a few clock reads a bit block; compare shares, and the
total with ``step_speed.py``'s.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.run import features_of
from sklearn_pnet import ProjectionNetClassifier, _training

ROOT = Path(__file__).resolve().parents[1]

# The kernel's phases, in the order of its PHASE_ enum.
PHASES = [
    "batch gathered as lanes",
    "slots of the active features",
    "projection",
    "scale and bits",
    "logits",
    "softmax and loss",
    "linear layer's gradient",
    "bits' gradient (straight-through)",
    "thresholds' gradient",
    "shared weights' gradient",
    "Adam",
]


def build_kernels(directory, *defines):
    """Compile ``sklearn_pnet/_kernels.c`` into ``directory`` with the
    flags of ``setup.py`` and ``defines`` (``-D...``), and load it: a
    module like ``sklearn_pnet._kernels``. Needs a C compiler (``cc``)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc) on the PATH")
    target = Path(directory) / ("_kernels" + sysconfig.get_config_var("EXT_SUFFIX"))
    command = [
        compiler, "-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-pthread",
        *defines, f"-I{sysconfig.get_paths()['include']}",
        str(ROOT / "sklearn_pnet" / "_kernels.c"), "-o", str(target),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    loader = importlib.machinery.ExtensionFileLoader("sklearn_pnet._kernels", str(target))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist"])
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    with tempfile.TemporaryDirectory() as directory:
        timed = build_kernels(directory, "-DSTUDENT_EPOCH_TIMERS")
    _training.student_epoch = timed.student_epoch
    # The timers add up one thread's phases: the steps run on that one.
    _training.MAX_EPOCH_THREADS = 1
    print("| dataset | phase | us per step | share |")
    print("|---|---|---|---|")
    for name in args.datasets:
        features = features_of(datasets.load(name, args.data_dir))
        ProjectionNetClassifier(random_state=0).fit(features.X_train, features.dataset.y_train)
        *seconds, n_steps = timed.student_epoch_phases()
        total = sum(seconds)
        for phase, spent in zip(PHASES, seconds):
            print(f"| {name} | {phase} | {spent / n_steps * 1e6:.1f} | {spent / total:.0%} |")
        print(f"| {name} | whole step ({n_steps:.0f} steps) | {total / n_steps * 1e6:.1f} | 100% |")


if __name__ == "__main__":
    main()
