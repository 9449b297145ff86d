"""The torch device models run on, checked when a model is loaded.

``device`` (``PipelineConfig.device``, the nodes' ``device`` parameter, ``--device``) names a torch
device: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. :func:`torch_device` turns it into a
``torch.device`` or raises a ``ValueError`` that says why it cannot be used (a CPU-only torch
build, no GPU visible, an index past the last GPU), so a node fails its configure transition with
that line instead of running somewhere else than asked. docs/install.md says how to install a
CUDA build of torch.
"""

from __future__ import annotations

import torch

#: The device names this project accepts (torch knows more, none of which it is tested on).
DEVICE_KINDS = ("cpu", "cuda", "mps")


def torch_device(name: str) -> torch.device:
    """``torch.device(name)`` after checking that it exists here; ValueError otherwise."""
    try:
        device = torch.device(str(name).strip())
    except RuntimeError as error:
        raise ValueError(
            f"device {name!r} is not a torch device name ({', '.join(DEVICE_KINDS)}, cuda:N)"
        ) from error
    if device.type not in DEVICE_KINDS:
        raise ValueError(f"device {name!r}: only {', '.join(DEVICE_KINDS)} are supported")
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(
                f"device {name!r} requested, but this torch {torch.__version__} is a CPU-only build: "
                "install a CUDA build of torch (docs/install.md) or use device cpu"
            )
        count = torch.cuda.device_count()
        if count == 0 or not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} requested, but torch sees no CUDA GPU (CUDA_VISIBLE_DEVICES, driver)"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {name!r} requested, but torch sees only {count} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested, but the MPS backend is not available")
    return device
