"""Time a default fit's training steps with and without each of their fast
paths, in one process, and check which ways fit the same model.

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
  AVX-512 path (``_kernels.wide_products(False)``);
- "torch steps": on dense rows, the steps through torch and the kernels
  above instead of the compiled epoch (``_training.student_epoch`` turned
  off), which computes in its own order and so fits another model;
- "one thread": the compiled epoch on one thread instead of as many as
  OpenMP would take (``_training.MAX_EPOCH_THREADS`` set to 1), which
  must fit the model "as shipped" does.

The "same model as" column names the ways whose model this way's is to
the bit (its weights, thresholds and loss curve, every seed): the first
three must match "as shipped" on sparse rows, and on dense rows, where the
compiled epoch takes the fit, "autograd" must match "torch steps" and
"one thread" "as shipped". The accuracy column (test accuracy: the mean
over ``--seeds``, then each seed's) compares the compiled epoch with the
torch steps. Times are seconds per fit (seed 0) and microseconds per
optimiser step; torch trains on one thread (training's default), the
compiled epoch on up to ``MAX_EPOCH_THREADS``.
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
# (MNIST: its default fit, which early stopping ends after 30 to 50 epochs.)
EPOCHS = {"digits": 200, "trec": 40, "sms_spam": 40, "mnist": 200}


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
    "torch steps": lambda: _without(_training, "student_epoch", None),
    "one thread": lambda: _without(_training, "MAX_EPOCH_THREADS", 1),
}


def _fingerprint(model):
    parts = [np.asarray(c) for c in model.coefs_] + list(model.intercepts_)
    parts += [model.projector_.threshold_, np.asarray(model.projector_.weights_)]
    parts.append(np.asarray(model.loss_curve_))
    return b"".join(np.ascontiguousarray(p).tobytes() for p in parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory laid out as ../shared/data")
    parser.add_argument("--datasets", nargs="+", default=["digits", "trec", "sms_spam"])
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0, 1, ... for accuracy")
    parser.add_argument("--epochs", type=int, help="instead of each dataset's default below")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    ways = {way: WAYS[way] for way in ["as shipped", *args.ways] if way in WAYS}
    print(
        "| dataset | way | epochs | fit s | us per step | x as shipped | test accuracy "
        "| same model as |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        features = features_of(datasets.load(name, args.data_dir))
        X, y = features.X_train, features.dataset.y_train
        epochs = args.epochs or EPOCHS.get(name, 40)
        ProjectionNetClassifier(max_iter=1, random_state=0).fit(X[:200], y[:200])  # warm up
        seconds = {way: [] for way in ways}
        steps, models = {}, {way: [] for way in ways}
        accuracy = {way: [] for way in ways}
        for seed in range(args.seeds):
            for _ in range(args.repeats if seed == 0 else 1):
                for way, context in ways.items():
                    with context():
                        start = time.perf_counter()
                        model = ProjectionNetClassifier(max_iter=epochs, random_state=seed)
                        model.fit(X, y)
                        if seed == 0:
                            seconds[way].append(time.perf_counter() - start)
                    steps[way] = model.n_iter_ * -(-len(y) // 200)
                    if len(models[way]) == seed:
                        models[way].append(_fingerprint(model))
                        score = model.score(features.X_test, features.dataset.y_test)
                        accuracy[way].append(score)
        shipped = min(seconds["as shipped"])
        for way, times in seconds.items():
            best = min(times)
            same = [other for other in ways if other != way and models[other] == models[way]]
            scores = ", ".join(f"{100 * a:.1f}" for a in accuracy[way])
            print(
                f"| {name} | {way} | {steps[way] // -(-len(y) // 200)} | {best:.3f} "
                f"| {best / steps[way] * 1e6:.0f} | {best / shipped:.2f} "
                f"| {100 * np.mean(accuracy[way]):.2f}% ({scores}) | {', '.join(same) or '-'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
