"""Networks exported to ONNX in memory, and ONNX Runtime CPU sessions of them.

:func:`export_onnx` traces a module with torch's TorchScript exporter into serialised ONNX bytes
(no file); :class:`Traced` makes any call of a network (keyword arguments, methods other than
``forward``) a module with positional inputs, which is what the exporter traces; :func:`export_call`
exports one call of a module with its keyword arguments and every shape fixed, and returns the
ONNX inputs of that call with it; :func:`quantize_dynamic` gives a model int8 weights and
activations quantised per call (ONNX Runtime's dynamic quantisation); :func:`onnxruntime_session`
runs the bytes on the CPU execution provider with a given thread count. Used by the pose network's engines
(:mod:`diff9d_ros.pose.engines`) and by ``benchmarks/engines.py``.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` and ``onnx`` (which torch's exporter needs) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


class Traced(nn.Module):
    """``run(*inputs)``, a call of ``network``, as a module with positional inputs; the network is
    a submodule so that its weights go into the exported graph."""

    def __init__(self, network: nn.Module, run: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.network, self.run = network, run

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.run(*inputs)


def export_onnx(
    module: nn.Module, example: Sequence[torch.Tensor], names: Sequence[str], dynamic_batch: bool = True
) -> bytes:
    """``module`` traced on ``example`` (inputs named ``names``, one output ``out``) as serialised
    ONNX; ``dynamic_batch``: the first axis of every input and of the output is left free, else
    every shape is the example's."""
    names = list(names)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example),
            buffer,
            input_names=names,
            output_names=["out"],
            dynamic_axes={name: {0: "batch"} for name in [*names, "out"]} if dynamic_batch else None,
            dynamo=False,
        )
    return buffer.getvalue()


def export_call(
    module: nn.Module, args: Sequence[torch.Tensor], kwargs: Mapping[str, object]
) -> tuple[bytes, dict[str, np.ndarray]]:
    """The call ``module(*args, **kwargs)`` exported with every shape fixed (keyword arguments that
    are None stay out of the graph), and its ONNX inputs: ``arg0``, ``arg1``, ... and the keyword
    names, without those the graph does not read (the exporter prunes them). A keyword argument that
    is a list of dataclasses of tensors (GeoTDM's stored history) is fed field by field as
    ``<name>_<index>_<field>`` and rebuilt inside the graph."""
    present = {name: value for name, value in kwargs.items() if value is not None}
    count = len(args)
    names, values = [f"arg{i}" for i in range(count)], list(args)
    layouts: dict[str, list[tuple[type, list[str]]]] = {}  # per list of records: each one's type and fields
    for key, value in present.items():
        if isinstance(value, list | tuple) and value and all(is_dataclass(item) for item in value):
            layouts[key] = [(type(item), [f.name for f in fields(item)]) for item in value]
            for i, item in enumerate(value):
                for field_name in layouts[key][i][1]:
                    names.append(f"{key}_{i}_{field_name}")
                    values.append(getattr(item, field_name))
        else:
            names.append(key)
            values.append(value)

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        feed = iter(inputs[count:])
        rebuilt = {
            key: [kind(**{name: next(feed) for name in item_fields}) for kind, item_fields in layouts[key]]
            if key in layouts
            else next(feed)
            for key in present
        }
        return module(*inputs[:count], **rebuilt)

    model = export_onnx(Traced(module, run), values, names, dynamic_batch=False)
    import onnx  # present wherever the export above ran

    read = {graph_input.name for graph_input in onnx.load_from_string(model).graph.input}  # pruned: unused
    pairs = zip(names, values, strict=True)
    feeds = {name: value.detach().cpu().numpy() for name, value in pairs if name in read}
    return model, feeds


@contextmanager
def quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantisation tools log advice (pre-processing) through the root logger:
    silence warnings and below while they run."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def quantized(model: bytes, quantize: Callable[[Path, Path], None]) -> bytes:
    """The serialised ``model`` passed through ``quantize(source, target)``, a function of
    ``onnxruntime.quantization`` bound to its options, which reads and writes files."""
    with tempfile.TemporaryDirectory() as folder, quiet_root_logger():
        source, target = Path(folder, "fp32.onnx"), Path(folder, "int8.onnx")
        source.write_bytes(model)
        quantize(source, target)
        return target.read_bytes()


def quantize_dynamic(model: bytes, op_types: Sequence[str] | None = None) -> bytes:
    """The serialised ``model`` with int8 weights and activations quantised at run time
    (``onnxruntime.quantization.quantize_dynamic``, signed weights); ``op_types``: the operators
    to quantise, None for every one ONNX Runtime can (convolutions included)."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as quantize

    return quantized(
        model,
        lambda source, target: quantize(
            source,
            target,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=None if op_types is None else list(op_types),
        ),
    )


def onnxruntime_session(model: bytes, threads: int) -> Any:
    """An ONNX Runtime session of the serialised ``model`` on the CPU execution provider with
    ``threads`` intra-op threads (and one inter-op thread)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
