"""Build the optional compiled prediction kernel (``sklearn_pnet._kernels``).

Everything else about the package is in ``pyproject.toml``. The kernel
speeds up the sparse projection at prediction; when no C compiler is
available the build goes on without it (``optional=True``) and prediction
runs the numpy path, with identical results. Where the compiler has OpenMP
(as scikit-learn's build checks for it), the kernel shares a batch's rows
among threads; where it has not, the kernel is built single-threaded.
"""

import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# numpy rounds every float32 product before adding it: a fused multiply-add
# would not, and bits near a threshold could differ.
compile_args = [] if sys.platform == "win32" else ["-ffp-contract=off"]
OPENMP_FLAG = "/openmp" if sys.platform == "win32" else "-fopenmp"

OPENMP_TEST = """
#include <omp.h>
int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
"""


def compiler_has_openmp(compiler):
    """Whether ``compiler`` compiles and links a program with OpenMP."""
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "openmp_test.c")
        with open(source, "w") as file:
            file.write(OPENMP_TEST)
        try:
            objects = compiler.compile([source], output_dir=folder, extra_postargs=[OPENMP_FLAG])
            compiler.link_executable(
                objects, "openmp_test", output_dir=folder, extra_postargs=[OPENMP_FLAG]
            )
        except Exception:  # any compile or link error: build without OpenMP
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        if compiler_has_openmp(self.compiler):
            for extension in self.extensions:
                extension.extra_compile_args.append(OPENMP_FLAG)
                if sys.platform != "win32":
                    extension.extra_link_args.append(OPENMP_FLAG)
        else:
            print("sklearn-pnet: no OpenMP, the kernel is built single-threaded")
        super().build_extensions()


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "sklearn_pnet._kernels",
            sources=["sklearn_pnet/_kernels.c"],
            extra_compile_args=compile_args,
            optional=True,
        )
    ],
)
