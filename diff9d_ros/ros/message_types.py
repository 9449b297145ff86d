"""Where conversions get message classes from: the rosbags type store or the rclpy interfaces.

The converters in this package read messages by field name only, so rosbags and rclpy messages
read alike. To *build* a message they ask a :class:`MessageTypes` provider, which hides the two
differences between the libraries: rosbags dataclasses need every field passed (missing ones are
filled here with ROS default values: zeros, empty strings and sequences, default sub-messages),
and primitive sequences (``uint8[] data``, ``float64[] d``) are numpy arrays in rosbags but
``array.array`` in rclpy.
"""

from __future__ import annotations

import array
import importlib
from typing import Any, Protocol

import numpy as np
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from diff9d_ros.ros.typestore import get_typestore

#: numpy dtypes of the ROS 2 primitive types (``char`` and ``byte`` are 8-bit in ROS 2).
PRIMITIVE_DTYPES: dict[str, type[np.generic]] = {
    "bool": np.bool_,
    "byte": np.uint8,
    "char": np.uint8,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "float32": np.float32,
    "float64": np.float64,
}

#: ``array.array`` type codes rclpy uses for primitive sequences.
ARRAY_TYPECODES: dict[str, str] = {
    "int8": "b",
    "uint8": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}


class MessageTypes(Protocol):
    """Builds ROS 2 messages of one library from a type name (``pkg/msg/Name``) and fields."""

    def new(self, msgtype: str, **fields: Any) -> Any:
        """A message of ``msgtype`` with ``fields`` set and every other field at its default."""
        ...

    def sequence(self, values: np.ndarray, primitive: str) -> Any:
        """The value for a ``<primitive>[]`` field holding ``values``."""
        ...


class RosbagsTypes:
    """:class:`MessageTypes` over a rosbags :class:`Typestore` (default: :func:`get_typestore`)."""

    def __init__(self, typestore: Typestore | None = None) -> None:
        self.typestore = typestore if typestore is not None else get_typestore()
        self._specs: dict[str, tuple[type, list[tuple[str, Any]], frozenset[str]]] = {}

    def new(self, msgtype: str, **fields: Any) -> Any:
        """A rosbags message of ``msgtype``; fields not given take the ROS default value."""
        cls, fielddefs, names = self._spec(msgtype)
        unknown = fields.keys() - names
        if unknown:
            raise ValueError(f"{msgtype} has no field(s) {sorted(unknown)}")
        if len(fields) < len(names):
            for name, desc in fielddefs:
                if name not in fields:
                    fields[name] = self._default(desc)
        return cls(**fields)

    def _spec(self, msgtype: str) -> tuple[type, list[tuple[str, Any]], frozenset[str]]:
        """(class, field descriptors, field names) of ``msgtype``, looked up once."""
        spec = self._specs.get(msgtype)
        if spec is None:
            if msgtype not in self.typestore.fielddefs:
                raise ValueError(f"message type {msgtype!r} is not in the type store")
            _, fielddefs = self.typestore.fielddefs[msgtype]
            spec = (self.typestore.types[msgtype], fielddefs, frozenset(name for name, _ in fielddefs))
            self._specs[msgtype] = spec
        return spec

    def sequence(self, values: np.ndarray, primitive: str) -> np.ndarray:
        """A contiguous 1-D numpy array of the primitive's dtype (what rosbags serialises)."""
        return np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=PRIMITIVE_DTYPES[primitive])

    def _default(self, desc: tuple[Nodetype, Any]) -> Any:
        """The ROS default value of a field described by a rosbags field descriptor."""
        kind, detail = desc
        if kind == Nodetype.BASE:
            primitive = detail[0]
            if primitive == "string":
                return ""
            if primitive == "bool":
                return False
            return 0.0 if primitive.startswith("float") else 0
        if kind == Nodetype.NAME:
            return self.new(detail)
        element, length = detail
        if element[0] == Nodetype.BASE and element[1][0] != "string":
            dtype = PRIMITIVE_DTYPES[element[1][0]]
            return np.zeros(length if kind == Nodetype.ARRAY else 0, dtype=dtype)
        if kind == Nodetype.ARRAY:
            return [self._default(element) for _ in range(length)]
        return []


class RclpyTypes:
    """:class:`MessageTypes` over the Python interfaces of a sourced ROS 2 install.

    ``sensor_msgs/msg/Image`` is ``sensor_msgs.msg.Image``, imported on first use, so importing
    this module needs no ROS; rclpy message constructors already default missing fields. A
    service's request and response, ``pkg/srv/Name_Request`` and ``pkg/srv/Name_Response``, are
    ``pkg.srv.Name.Request`` and ``pkg.srv.Name.Response``.
    """

    def new(self, msgtype: str, **fields: Any) -> Any:
        """An rclpy message of ``msgtype`` built from ``fields``."""
        package, kind, name = _split_msgtype(msgtype)
        try:
            module = importlib.import_module(f"{package}.{kind}")
        except ModuleNotFoundError as error:
            raise ValueError(
                f"cannot build {msgtype}: Python package {package!r} is not installed (source a ROS 2 setup)"
            ) from error
        if kind == "srv":
            service, _, part = name.rpartition("_")
            cls = getattr(getattr(module, service, None), part, None)
        else:
            cls = getattr(module, name, None)
        if cls is None:
            raise ValueError(f"cannot build {msgtype}: {package}.{kind} has no {name}")
        return cls(**fields)

    def sequence(self, values: np.ndarray, primitive: str) -> array.array:
        """An ``array.array`` of the primitive's type code (what rclpy stores for ``T[]`` fields)."""
        if primitive not in ARRAY_TYPECODES:
            raise ValueError(f"no array.array type code for ROS primitive {primitive!r}")
        flat = np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=PRIMITIVE_DTYPES[primitive])
        out = array.array(ARRAY_TYPECODES[primitive])
        out.frombytes(flat.tobytes())
        return out


def _split_msgtype(msgtype: str) -> tuple[str, str, str]:
    """(package, kind, Name) of ``package/msg/Name`` or ``package/srv/Name_Request`` (or
    ``_Response``); ValueError otherwise."""
    parts = msgtype.split("/")
    service_part = parts[-1].endswith(("_Request", "_Response"))
    if len(parts) != 3 or not all(parts) or not (parts[1] == "msg" or (parts[1] == "srv" and service_part)):
        raise ValueError(
            "message type must look like 'package/msg/Name' or 'package/srv/Name_Request' (_Response), "
            f"got {msgtype!r}"
        )
    return parts[0], parts[1], parts[2]
