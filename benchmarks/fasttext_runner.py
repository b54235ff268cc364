"""Train, quantize and time fastText supervised models.

This script runs inside fastText's own virtual environment (see
``fasttext_system.py``), never in the project's: ``fasttext-wheel`` needs
``numpy<2``. It reads a job file written by the benchmark::

    {"train": "train.txt", "test": "test.txt", "dir": "...",
     "params": {...}, "cutoffs": [...], "repeats": 3, "out": "results.json"}

``train.txt`` has one ``__label__<k> tokens ...`` line per document and
``test.txt`` one line of tokens per document. It writes, for the model as
trained and for each quantized one, the fit seconds, the model file's
bytes, the predict rate, the peak memory and the predicted label indices.
"""

# SPDX-License-Identifier: BSD-3-Clause

import json
import os
import sys
from pathlib import Path

import fasttext

if __package__ in (None, ""):
    # Run as a script by fasttext_system.py: import the benchmarks package
    # from the project root. Its __init__.py and measure.py need only numpy
    # and the standard library, both present in fastText's environment.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import PeakMemory, Timer, best_rows_per_second

LABEL_PREFIX = "__label__"


def predicted_indices(model, lines):
    labels, _ = model.predict(lines, k=1)
    return [int(label[0][len(LABEL_PREFIX) :]) for label in labels]


def variant(name, model, path, fit_seconds, memories, lines, job):
    """One result: the model saved at ``path``, timed on ``lines``."""
    rows_per_s, predictions = best_rows_per_second(
        lambda X: predicted_indices(model, X),
        lines,
        len(lines),
        job["repeats"],
        job["timing_seconds"],
    )
    return {
        "name": name,
        "fit_seconds": fit_seconds,
        "model_bytes": os.path.getsize(path),
        "predict_rows_per_s": rows_per_s,
        "peak_rss_mb": max(m.peak_rss_mb for m in memories),
        "fit_mem_mb": max(m.fit_mem_mb for m in memories),
        "memory_method": memories[0].method,
        "predictions": predictions,
    }


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    with open(job["test"], encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    with PeakMemory() as train_memory, Timer() as train_time:
        model = fasttext.train_supervised(input=job["train"], verbose=0, **job["params"])
    full_path = os.path.join(job["dir"], "model.bin")
    model.save_model(full_path)
    results = [
        variant("fastText", model, full_path, train_time.seconds, [train_memory], lines, job)
    ]
    for cutoff in job["cutoffs"]:
        # quantize() changes the model in place: start each cutoff from the
        # model as trained, and count its training time too.
        model = fasttext.load_model(full_path)
        with PeakMemory() as memory, Timer() as quantize_time:
            model.quantize(input=job["train"], qnorm=True, retrain=True, cutoff=cutoff)
        path = os.path.join(job["dir"], f"model-{cutoff}.ftz")
        model.save_model(path)
        name = f"fastText quantized (cutoff={cutoff})"
        seconds = train_time.seconds + quantize_time.seconds
        results.append(variant(name, model, path, seconds, [train_memory, memory], lines, job))
    with open(job["out"], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
