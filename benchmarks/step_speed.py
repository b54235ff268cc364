"""Time a default fit's training steps with and without each of their fast
paths, in one process, and check that every way fits the same model.

Run from the project root::

    python benchmarks/step_speed.py --data-dir ../shared/data

``speed.py`` times whole default fits against peers; this script takes the
default fit apart on the small training sets, where a step is short and
what surrounds its arithmetic counts. For each dataset it fits
``ProjectionNetClassifier(random_state=0)`` for a fixed number of epochs in
each of these ways, alternating them, best of ``--repeats`` fits each:

- as shipped;
- "autograd": the student's loss and gradients through torch's autograd
  instead of by hand (``_torch_pnet.student_loss_by_hand``; its test
  ``by_hand_applies`` turned to False);
- "torch Adam": Adam's step as torch's seven operations instead of the two
  compiled passes (``_training.adam_moments`` turned off);
- "one slot at a time": the compiled training kernels without their
  AVX-512 path (``_kernels.wide_products(False)``).

Each way must fit the same model to the bit (its weights, thresholds and
loss curve): the last column says whether it did. Times are seconds per fit
and microseconds per optimiser step, on one thread (training's default).
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets
from benchmarks.run import features_of
from sklearn_pnet import ProjectionNetClassifier, _kernels, _training

# A default fit's 200 epochs on digits; a fifth of them on the two text sets.
EPOCHS = {"digits": 200, "trec": 40, "sms_spam": 40}


@contextmanager
def _without(module, name, replacement):
    saved = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, saved)


@contextmanager
def _one_slot_at_a_time():
    wide = _kernels.wide_products()
    _kernels.wide_products(False)
    try:
        yield
    finally:
        _kernels.wide_products(wide)


WAYS = {
    "as shipped": nullcontext,
    "autograd": lambda: _without(_training, "by_hand_applies", lambda student: False),
    "torch Adam": lambda: _without(_training, "adam_moments", None),
    "one slot at a time": _one_slot_at_a_time,
}


def _fingerprint(model):
    parts = [np.asarray(c) for c in model.coefs_] + list(model.intercepts_)
    parts += [model.projector_.threshold_, np.asarray(model.projector_.weights_)]
    parts.append(np.asarray(model.loss_curve_))
    return b"".join(np.ascontiguousarray(p).tobytes() for p in parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--datasets", nargs="+", default=list(EPOCHS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="instead of each dataset's default below")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print("| dataset | way | epochs | fit s | us per step | x as shipped | same model |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        features = features_of(datasets.load(name, args.data_dir))
        X, y = features.X_train, features.dataset.y_train
        epochs = args.epochs or EPOCHS.get(name, 40)
        n_steps = epochs * -(-len(y) // 200)
        ProjectionNetClassifier(max_iter=1, random_state=0).fit(X[:200], y[:200])  # warm up
        seconds = {way: [] for way in WAYS}
        models = {}
        for _ in range(args.repeats):
            for way, context in WAYS.items():
                with context():
                    start = time.perf_counter()
                    model = ProjectionNetClassifier(max_iter=epochs, random_state=0).fit(X, y)
                    seconds[way].append(time.perf_counter() - start)
                models[way] = _fingerprint(model)
        shipped = min(seconds["as shipped"])
        for way, times in seconds.items():
            best = min(times)
            same = "yes" if models[way] == models["as shipped"] else "NO"
            print(
                f"| {name} | {way} | {epochs} | {best:.3f} | {best / n_steps * 1e6:.0f} "
                f"| {best / shipped:.2f} | {same} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
