"""Build the optional compiled kernels (``sklearn_pnet._kernels``).

Everything else about the package is in ``pyproject.toml``. The kernels
speed up the sparse projection at prediction and the trained projection's
steps in training; when no C compiler is available the build goes on
without them (``optional=True``): prediction runs the numpy path and
training the torch expressions, with identical results, except on dense
input, where torch's matrix products round differently from
``dense_product`` and a default fit's steps differ from ``student_epoch``'s
(its own order of additions: a fit differs in the last bits).
"""

import sys

from setuptools import Extension, setup

# numpy rounds every float32 product before adding it: a fused multiply-add
# would not, and bits near a threshold could differ.
# -fno-math-errno: sqrtf becomes the CPU's (vectorised, correctly rounded)
# square root instead of a call that may set errno, which nothing reads.
compile_args = [] if sys.platform == "win32" else ["-ffp-contract=off", "-fno-math-errno"]
# The compiled epoch's helper threads (POSIX threads; on one thread without).
link_args = [] if sys.platform == "win32" else ["-pthread"]
compile_args += link_args

setup(
    ext_modules=[
        Extension(
            "sklearn_pnet._kernels",
            sources=["sklearn_pnet/_kernels.c"],
            # Included by _kernels.c: a change to it rebuilds the module.
            depends=["sklearn_pnet/_student_epoch.c"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=True,
        )
    ]
)
