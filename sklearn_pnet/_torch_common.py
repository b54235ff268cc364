"""Torch helpers that both networks' modules and the training loop use.

Only training imports this module; prediction never needs torch.
"""

# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def to_tensor(X, device):
    """A dense float32 tensor, or a sparse CSR tensor for scipy input."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        with warnings.catch_warnings():
            # Torch warns once per process that sparse CSR is "beta"; the
            # few operations used here (embedding_bag on its arrays, or
            # torch.sparse.mm in a custom teacher) are stable.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            return torch.sparse_csr_tensor(
                torch.from_numpy(X.indptr.astype(np.int64)),
                torch.from_numpy(X.indices.astype(np.int64)),
                torch.from_numpy(X.data),
                size=X.shape,
                device=device,
                # scipy already guarantees a valid CSR structure.
                check_invariants=False,
            )
    return torch.from_numpy(np.asarray(X, dtype=np.float32)).to(device)


def sparse_parameters(module):
    """Parameters of the sub-modules that produce sparse gradients."""
    return [
        p
        for m in module.modules()
        if getattr(m, "sparse", False) is True
        for p in m.parameters(recurse=False)
        if p.requires_grad and p.dim() == 2
    ]


def available_devices():
    """The devices this torch can train on here, e.g. ``["cpu", "cuda:0"]``."""
    devices = ["cpu"]
    devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        devices += [f"xpu:{i}" for i in range(xpu.device_count())]
    return devices


def training_device(name):
    """The torch device ``name``, checked to hold a tensor here.

    Torch's own errors for a device it lacks are an ``AssertionError``
    ("Torch not compiled with CUDA enabled"), a list of every device type
    it knows of, or, for "meta", a failure at the first ``.item()`` of the
    first epoch; this says which devices there are.
    """
    here = ", ".join(repr(d) for d in available_devices())
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device={name!r} is not a torch device name; this torch "
            f"({torch.__version__}) has {here}."
        ) from exc
    if device.type == "meta":
        raise ValueError(
            f"device={name!r} holds no data and cannot train; this torch "
            f"({torch.__version__}) has {here}."
        )
    try:
        torch.empty(1, device=device)
    except (AssertionError, RuntimeError) as exc:
        raise ValueError(
            f"device={name!r} is not available to this torch ({torch.__version__}): "
            f"{exc}. It has {here}."
        ) from exc
    return device
