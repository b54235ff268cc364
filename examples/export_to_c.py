"""Export a fitted model to C, compile a command-line classifier, run it.

The script trains a ``ProjectionNetClassifier`` on scikit-learn's digits
(and, with ``--data-dir``, a ``HashingVectorizer`` pipeline on 4 topics of
20 Newsgroups), dumps it with joblib, writes it as C99 with
``python -m sklearn_pnet.export``, builds ``classify`` with
``cc -O2 -o classify OUT/*.c -lm`` and runs it on the test samples (raw
text for the pipeline). It checks that the C labels are Python's, and
prints the compiled size (text + data of the objects, as ``size`` reports)
next to the joblib bytes, and the C program's rows per second next to
``predict``'s, measured in the same run. Needs a C compiler (``cc``).

Run it from the project root::

    python examples/export_to_c.py
    python examples/export_to_c.py --data-dir ../shared/data   # + 20 Newsgroups text
    python examples/export_to_c.py --small   # seconds
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import sklearn_pnet
from sklearn_pnet import ProjectionNetClassifier

TOPICS = ["alt.atheism", "talk.religion.misc", "comp.graphics", "sci.space"]


def same_package_env():
    """The environment of a child Python that imports this sklearn_pnet."""
    root = str(Path(sklearn_pnet.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path)


def export_and_build(model, workdir):
    """Dump, export with the command line, compile; returns the program."""
    workdir.mkdir(parents=True)
    joblib.dump(model, workdir / "model.joblib")
    out = workdir / "c"
    subprocess.run(
        [sys.executable, "-m", "sklearn_pnet.export", str(workdir / "model.joblib"), str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=same_package_env(),
    )
    sources = " ".join(str(p) for p in sorted(out.glob("*.c")))
    print(f"$ cc -O2 -o classify {out.name}/*.c -lm")
    subprocess.run(f"cc -O2 -o {workdir}/classify {sources} -lm", shell=True, check=True)
    return workdir / "classify", out


def compiled_bytes(out):
    """text + data of the model's and the runtime's objects (not main.c)."""
    sources = [p for p in sorted(out.glob("*.c")) if p.name != "main.c"]
    objects = []
    for source in sources:
        objects.append(source.with_suffix(".o"))
        subprocess.run(["cc", "-O2", "-c", "-o", str(objects[-1]), str(source)], check=True)
    report = subprocess.run(
        ["size", *map(str, objects)], check=True, capture_output=True, text=True
    )
    sizes = {}
    for line in report.stdout.splitlines()[1:]:
        text, data, _bss, *_rest, name = line.split()
        sizes[Path(name).stem] = int(text) + int(data)
    return sizes


def run(program, lines, *flags):
    start = time.perf_counter()
    done = subprocess.run(
        [str(program), *flags], input=lines.encode(), capture_output=True, check=True
    )
    return done.stdout.decode().split(), time.perf_counter() - start


def report(title, model, program, out, lines, X_test, repeat):
    """Check C == Python, and print sizes and speeds."""
    labels, _ = run(program, lines, *(["--text"] if isinstance(X_test, list) else []))
    python = model.predict(X_test)
    same = np.array_equal(model.classes_[np.array(labels, dtype=int)], python)
    print(f"{title}: {len(python)} test samples, C labels identical to predict's: {same}")
    print(f"  first labels, C: {labels[:8]}  Python: {python[:8].tolist()}")
    sizes = compiled_bytes(out)
    joblib_bytes = (out.parent / "model.joblib").stat().st_size
    print(
        f"  compiled (text + data): model {sizes['model']:,} bytes + runtime "
        f"{sum(sizes.values()) - sizes['model']:,} bytes; joblib.dump {joblib_bytes:,} bytes"
    )
    # Speed on the same rows: the C program (process start and parsing
    # included) against predict on the whole batch and row by row.
    flags = ["--text"] if isinstance(X_test, list) else []
    _, c_seconds = run(program, lines * repeat, *flags)
    n_rows = len(python) * repeat
    start = time.perf_counter()
    for _ in range(repeat):
        model.predict(X_test)
    batch = n_rows / (time.perf_counter() - start)
    start = time.perf_counter()
    n_single = min(200, len(python))
    for i in range(n_single):
        model.predict(X_test[i : i + 1])
    single = n_single / (time.perf_counter() - start)
    print(
        f"  rows/s: C {n_rows / c_seconds:,.0f} (one process, from text lines), Python predict "
        f"{batch:,.0f} on the batch, {single:,.0f} one row a call"
    )


def digits(args, workdir):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
    clf = ProjectionNetClassifier(n_bits=256, max_iter=5 if args.small else 100, random_state=0)
    clf.fit(X_train, y_train)
    program, out = export_and_build(clf, workdir)
    lines = "".join(",".join(map(repr, row)) + "\n" for row in X_test.tolist())
    report("digits, 256 bits -> 10 classes, int8", clf, program, out, lines, X_test, args.repeat)


def newsgroups(args, workdir):
    os.environ["SCIKIT_LEARN_DATA"] = str(Path(args.data_dir) / "scikit_learn_data")
    from sklearn.datasets import fetch_20newsgroups
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import make_pipeline

    train, test = (
        fetch_20newsgroups(subset=s, categories=TOPICS, download_if_missing=False)
        for s in ("train", "test")
    )
    clf = ProjectionNetClassifier(
        n_bits=256, max_iter=3 if args.small else 30, loss_weights=(0, 0, 1), random_state=0
    )
    pipe = make_pipeline(HashingVectorizer(), clf).fit(train.data, train.target)
    program, out = export_and_build(pipe, workdir)
    lines = "".join(re.sub(r"[\r\n]", " ", doc) + "\n" for doc in test.data)
    title = "20 Newsgroups (4 topics) from raw text, HashingVectorizer -> 256 bits -> 4 classes"
    report(title, pipe, program, out, lines, list(test.data), max(1, args.repeat // 10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few epochs: seconds")
    parser.add_argument("--data-dir", help="../shared/data: also export a 20 Newsgroups pipeline")
    parser.add_argument("--repeat", type=int, default=None, help="passes over the test set to time")
    args = parser.parse_args()
    args.repeat = args.repeat or (2 if args.small else 20)
    if shutil.which("cc") is None:
        sys.exit("this example needs a C compiler (cc)")
    warnings.simplefilter("ignore", ConvergenceWarning)
    with tempfile.TemporaryDirectory() as tmp:
        digits(args, Path(tmp) / "digits")
        if args.data_dir:
            newsgroups(args, Path(tmp) / "newsgroups")


if __name__ == "__main__":
    main()
