"""The benchmark suite of sklearn-pnet: ProjectionNet against its peers.

Run from the project root, as scripts or as modules (the same)::

    python benchmarks/run.py --quick --datasets digits
    python -m benchmarks.run --quick --datasets digits

:mod:`benchmarks.datasets` holds the registry of datasets and
:mod:`benchmarks.systems` the registry of systems; ``benchmarks/README.md``
says how to add either. This module imports nothing: ``fasttext_runner.py``
imports :mod:`benchmarks.measure` inside fastText's own environment, where
neither the project's package nor its dependencies are installed.
"""
