"""Timing and memory measurements shared by every system of the benchmark."""

# SPDX-License-Identifier: BSD-3-Clause

import ctypes
import gc
import time
import tracemalloc
import warnings

import numpy as np


class Skip(Exception):
    """A system that cannot run here; the message says why."""


def _status_kb(field):
    """A ``kB`` field of /proc/self/status (``VmHWM``, ``VmRSS``), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def release_free_memory():
    """Hand memory that is free but still resident back to the OS.

    glibc keeps freed small blocks in its heap, counted in the resident
    size; a later fit reuses them without raising the peak, and would seem
    to need no memory. ``malloc_trim(0)`` returns them first (glibc only;
    elsewhere this does nothing).
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss():
    """Reset the kernel's record of this process's peak resident memory.

    Writing 5 to /proc/self/clear_refs sets VmHWM back to the current
    resident size (Linux 4.0 and later), so that the next reading of VmHWM
    is the peak of what ran in between. Returns False where that is not
    possible (another OS, a restricted /proc).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


class PeakMemory:
    """Peak memory of the code run inside a ``with`` block.

    On Linux it reads the process's peak resident set (VmHWM) after
    resetting it on entry: ``peak_rss_mb`` is the whole process's peak
    (data, interpreter and libraries included) and ``fit_mem_mb`` its rise
    above the resident size on entry, the memory the block itself needed.
    Elsewhere it falls back to :mod:`tracemalloc`, which sees the
    allocations of Python and numpy but not those of torch's or other C++
    allocators: then ``peak_rss_mb`` is NaN and ``fit_mem_mb`` the traced
    peak.
    """

    def __enter__(self):
        # Free what earlier systems left, so that it is not counted as
        # this block's and its memory is not reused unseen.
        gc.collect()
        release_free_memory()
        if reset_peak_rss():
            self.method = "VmHWM"
            self._start_kb = _status_kb("VmRSS")
        else:
            self.method = "tracemalloc"
            tracemalloc.start()
        return self

    def __exit__(self, *exc_info):
        if self.method == "VmHWM":
            peak_kb = _status_kb("VmHWM")
            self.peak_rss_mb = peak_kb / 1024
            self.fit_mem_mb = max(0, peak_kb - self._start_kb) / 1024
        else:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            self.peak_rss_mb = float("nan")
            self.fit_mem_mb = peak / 2**20
        return False


class Timer:
    """Wall-clock seconds of a ``with`` block (``perf_counter``)."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        self.seconds = time.perf_counter() - self._start
        return False


def best_rows_per_second(predict, X, n_rows, repeats=3, min_seconds=0.2, max_repeats=50):
    """Rows per second of ``predict(X)``, from the fastest of several calls.

    The fastest call is the one least disturbed by other work on a shared
    machine. At least ``repeats`` calls are timed, and more (up to
    ``max_repeats``) while their total is under ``min_seconds``, so that a
    test set predicted in a millisecond is not timed once at the
    resolution of the scheduler. Returns ``(rows_per_s, predictions of the
    first call)``.
    """
    times, first = [], None
    while len(times) < repeats or (sum(times) < min_seconds and len(times) < max_repeats):
        start = time.perf_counter()
        out = predict(X)
        times.append(time.perf_counter() - start)
        if first is None:
            first = out
    return n_rows / min(times), first


class CaughtWarnings(warnings.catch_warnings):
    """Record warnings (convergence, data dimensionality) instead of
    printing them; ``names`` gives their distinct categories for the
    results table."""

    def __init__(self):
        super().__init__(record=True)

    def __enter__(self):
        self.log = super().__enter__()
        warnings.simplefilter("always")
        return self

    @property
    def names(self):
        return sorted({w.category.__name__ for w in self.log})


def accuracy(y_true, y_pred):
    """Fraction of correct predictions."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
