"""fastText supervised, measured in its own virtual environment.

``fasttext-wheel`` needs ``numpy<2`` (its ``predict`` breaks on numpy 2),
and the project runs on numpy 2, so fastText never enters the project's
environment: :func:`setup_fasttext` makes a virtual environment beside the
benchmark (``benchmarks/.venv-fasttext``, ignored by git) and the
benchmark drives ``fasttext_runner.py`` there through a subprocess, with
the documents in text files. Where the environment cannot be made (no
network, no wheel for the platform), fastText is skipped with the reason.
"""

# SPDX-License-Identifier: BSD-3-Clause

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import Skip
from benchmarks.report import Family

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv-fasttext"
REQUIREMENTS = ["fasttext-wheel", "numpy<2"]
# The tokens of scikit-learn's default token_pattern, so that fastText
# sees the words the tf-idf systems see.
TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _venv_python(venv_dir):
    if os.name == "nt":
        return Path(venv_dir) / "Scripts" / "python.exe"
    return Path(venv_dir) / "bin" / "python"


def _imports_fasttext(python):
    check = subprocess.run(
        [str(python), "-c", "import fasttext, numpy"], check=False, capture_output=True, text=True
    )
    return check.returncode == 0


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def setup_fasttext(venv_dir=DEFAULT_VENV, log=print):
    """Python of a virtual environment where fastText imports.

    Creates the environment and installs ``fasttext-wheel`` and
    ``numpy<2`` into it on first use. Returns ``(python, None)``, or
    ``(None, reason)`` where that fails.
    """
    python = _venv_python(venv_dir)
    if python.exists() and _imports_fasttext(python):
        return str(python), None
    log(f"Setting up fastText in {venv_dir} (pip install {' '.join(REQUIREMENTS)}) ...")
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv_dir)],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not create the virtual environment {venv_dir}: {exc}"
    if install.returncode != 0:
        return None, f"pip install {' '.join(REQUIREMENTS)} failed: {_last_line(install.stderr)}"
    if not _imports_fasttext(python):
        return None, f"fasttext was installed in {venv_dir} but does not import"
    return str(python), None


def fasttext_line(document):
    """A document as one line of lower-cased tokens."""
    return " ".join(TOKEN.findall(str(document).lower()))


class FastText:
    """Registry entry: fastText supervised, as trained and quantized.

    One training per dataset gives the row of the full model; each cutoff
    of ``Settings.fasttext_cutoffs`` gives a row of the model quantized
    with ``quantize(qnorm=True, retrain=True, cutoff=...)`` from it. The
    size is the saved file (.bin, .ftz); the fit time, memory and predict
    rate are measured inside the subprocess (predicting from text lines,
    so the model and pipeline columns are the same).
    """

    name = "fastText"
    kinds = ("text",)
    # The model as trained, and its quantized copies.
    families = (Family("fastText"), Family("fastText quantized"))

    def available(self):
        return True

    def applies_to(self, dataset):
        return dataset.kind in self.kinds

    def run(self, features, settings, log=print):
        if settings.fasttext_python is None:
            raise Skip(settings.fasttext_skip_reason or "fastText environment not set up")
        data = features.dataset
        classes = sorted(set(data.y_train))
        index = {label: i for i, label in enumerate(classes)}
        with tempfile.TemporaryDirectory(prefix="bench-fasttext-") as tmp:
            job = self._write_job(Path(tmp), data, index, settings)
            done = subprocess.run(
                [settings.fasttext_python, str(HERE / "fasttext_runner.py"), job],
                check=False,
                capture_output=True,
                text=True,
                cwd=HERE,
            )
            if done.returncode != 0:
                raise RuntimeError(f"fasttext_runner.py failed:\n{done.stderr}")
            with open(Path(tmp) / "results.json") as f:
                results = json.load(f)
        full, quantized = self.families
        rows = []
        for result in results:
            y_pred = [classes[i] for i in result.pop("predictions")]
            correct = sum(a == b for a, b in zip(data.y_test, y_pred))
            params = dict(settings.fasttext_params, thread=settings.threads)
            row = {
                "system": result["name"],
                "family": full.name if result["name"] == full.name else quantized.name,
                "n_bits": None,
                "accuracy": correct / len(y_pred),
                "pipeline_bytes": result["model_bytes"],
                "pipeline_rows_per_s": result["predict_rows_per_s"],
                "params": f"train_supervised({params})",
                "note": "measured in its own virtual environment; the model is the whole pipeline",
                **{k: v for k, v in result.items() if k != "name"},
            }
            rows.append(row)
            log(f"  {row['system']:<52} acc {row['accuracy']:.4f}  {row['model_bytes']:>11,} B")
        return rows

    def _write_job(self, folder, data, index, settings):
        with open(folder / "train.txt", "w", encoding="utf-8") as f:
            f.writelines(
                f"__label__{index[label]} {fasttext_line(document)}\n"
                for document, label in zip(data.X_train, data.y_train)
            )
        with open(folder / "test.txt", "w", encoding="utf-8") as f:
            f.writelines(fasttext_line(document) + "\n" for document in data.X_test)
        job = {
            "train": str(folder / "train.txt"),
            "test": str(folder / "test.txt"),
            "dir": str(folder),
            "params": dict(settings.fasttext_params, thread=settings.threads, seed=0),
            "cutoffs": list(settings.fasttext_cutoffs),
            "repeats": settings.repeats,
            "timing_seconds": settings.timing_seconds,
            "out": str(folder / "results.json"),
        }
        path = folder / "job.json"
        path.write_text(json.dumps(job))
        return str(path)
