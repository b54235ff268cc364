"""``python -m sklearn_pnet.export MODEL.joblib OUTDIR``: write a dumped
model as C99 sources and a ``main.c``; then ``cc -O2 -o classify
OUTDIR/*.c -lm`` builds a command-line classifier (see DEVICE.md)."""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import sys

import joblib

from . import export_c


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_pnet.export",
        description="Write a fitted sklearn-pnet model (or pipeline) as self-contained C99.",
    )
    parser.add_argument("model", help="a joblib.dump of the estimator or pipeline")
    parser.add_argument("out_dir", help="folder for the .c and .h files")
    parser.add_argument("--name", default="model", help="C identifier of the model")
    parser.add_argument("--no-main", action="store_true", help="do not write main.c")
    args = parser.parse_args(argv)
    paths = export_c(joblib.load(args.model), args.out_dir, name=args.name, main=not args.no_main)
    for path in paths:
        print(path)
    print(f"build: cc -O2 -o classify {args.out_dir}/*.c -lm", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
