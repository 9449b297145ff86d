"""rosbag2 read/write over rosbags, in ``mcap`` or ``sqlite3`` storage, with clear errors.

Messages are CDR-serialised with the shared type store (:func:`~diff9d_ros.ros.typestore.get_typestore`,
ROS 2 Humble + vision_msgs), which the writer also embeds as message definitions. The reader uses
a bag's embedded definitions when it has them and the shared store otherwise, so bags recorded by
``ros2 bag record`` and bags written here read alike. Every failure to open or read a bag (a missing
path, a truncated or corrupt storage file, an absent topic) is a :class:`BagError`, except an MCAP
bag cut short (no summary, no footer): its complete records are read from the start instead
(:mod:`diff9d_ros.bag.mcap_salvage`), with a warning saying how to make a playable copy.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag2 import ReaderError, StoragePlugin, Writer, WriterError
from rosbags.serde import SerdeError

from diff9d_ros.bag.mcap_salvage import SalvagedMcap
from diff9d_ros.ros.typestore import get_typestore
from diff9d_ros.validation import one_line

#: Storage names (as ``ros2 bag record -s``) and their rosbags plugins.
STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
LOG = logging.getLogger(__name__)
#: rosbag2 metadata version written: 8, the oldest that rosbags writes (Humble's rosbag2 writes 5).
BAG_VERSION = 8
#: Exceptions rosbags and its storage back-ends raise on unreadable data.
_READ_ERRORS = (
    AnyReaderError,
    ReaderError,
    SerdeError,
    sqlite3.Error,
    struct.error,
    EOFError,
    OSError,
    KeyError,
    IndexError,
    ValueError,
    AssertionError,
)


class BagError(ValueError):
    """A bag that cannot be written or read: the message names the path and the problem."""


class BagWriter:
    """Writes ROS 2 messages into a new rosbag2 directory; use as a context manager.

    Connections are added on the first message of each topic, typed by the message's
    ``__msgtype__`` (rosbags messages, e.g. built with ``RosbagsTypes``). A topic keeps its
    first type; writing another type to it is a BagError.
    """

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; expected one of {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag {self.path} already exists; rosbag2 writers only create new bags")
        self.storage = storage
        self.typestore = get_typestore()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}
        self._open = False

    def __enter__(self) -> BagWriter:
        try:
            self._writer.open()
        except (WriterError, OSError) as error:
            raise BagError(f"cannot create bag {self.path}: {error}") from error
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        self._writer.close()

    def set_custom_data(self, key: str, value: str) -> None:
        """Store ``key: value`` in the bag's ``metadata.yaml`` (``custom_data``)."""
        try:
            self._writer.set_custom_data(key, value)
        except WriterError as error:
            raise BagError(f"bag {self.path}: cannot store custom data {key!r}: {error}") from error

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        """Serialise ``msg`` to CDR and append it to ``topic`` with receive time ``stamp_ns``."""
        if not self._open:
            raise BagError(f"bag {self.path} is not open; use BagWriter as a context manager")
        msgtype = getattr(msg, "__msgtype__", None)
        if msgtype is None:
            raise BagError(f"cannot tell the ROS type of a {type(msg).__name__}; build it with RosbagsTypes")
        if int(stamp_ns) < 0:
            raise BagError(f"bag stamps must be non-negative, got {stamp_ns} ns on {topic}")
        connection = self._connections.get(topic)
        if connection is None:
            if msgtype not in self.typestore.types:
                raise BagError(f"message type {msgtype} of {topic} is not in the type store")
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise BagError(f"topic {topic} carries {connection.msgtype}, cannot write a {msgtype} to it")
        self._writer.write(connection, int(stamp_ns), self.typestore.serialize_cdr(msg, msgtype))


def bag_topics(path: str | Path) -> dict[str, str]:
    """Topic -> message type (``pkg/msg/Name``) of the bag at ``path``."""
    path = Path(path)
    try:
        with _open_reader(path) as reader:
            return {connection.topic: connection.msgtype for connection in reader.connections}
    except BagError as error:
        salvage = _salvage(path, error)
        for _ in _salvaged_records(salvage):
            pass
        return salvage.topics()


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[tuple[str, int, Any]]:
    """Yield (topic, receive stamp_ns, deserialised message) in time order, for ``topics`` or all.

    BagError (raised when iteration starts, or at the damaged message) if the bag is missing or
    unreadable, a requested topic is absent, or a message cannot be read (truncated or corrupt).
    A truncated MCAP bag yields the messages of its complete records, in file order.
    """
    path = Path(path)
    opened = _open_reader(path)
    try:
        reader = opened.__enter__()
    except BagError as error:
        yield from _read_salvaged(_salvage(path, error), topics)
        return
    try:
        yield from _read_opened(reader, path, topics)
    finally:
        opened.__exit__(None, None, None)


def _check_wanted(path: Path, available: set[str], topics: Iterable[str] | None) -> set[str]:
    wanted = available if topics is None else set(topics)
    missing = sorted(wanted - available)
    if missing:
        have = ", ".join(sorted(available)) or "none"
        raise BagError(f"bag {path} has no topic(s) {', '.join(missing)}; it has: {have}")
    return wanted


def _read_opened(
    reader: AnyReader, path: Path, topics: Iterable[str] | None
) -> Iterator[tuple[str, int, Any]]:
    wanted = _check_wanted(path, {connection.topic for connection in reader.connections}, topics)
    connections = [connection for connection in reader.connections if connection.topic in wanted]
    messages = reader.messages(connections=connections)
    count = 0
    while True:
        try:
            item = next(messages, None)
            if item is None:
                return
            connection, stamp_ns, raw = item
            msg = reader.deserialize(raw, connection.msgtype)
        except _READ_ERRORS as error:
            raise BagError(
                f"bag {path} is truncated or corrupt: reading failed after {count} message(s): "
                f"{one_line(error, limit=200)}"
            ) from error
        count += 1
        yield connection.topic, int(stamp_ns), msg


def _salvage(path: Path, error: BagError) -> SalvagedMcap:
    """The salvage reader of the single MCAP file of ``path``; ``error`` again when there is none."""
    files = sorted(path.glob("*.mcap")) if path.is_dir() else []
    if len(files) != 1:
        raise error
    LOG.warning(
        "%s; reading the complete records of %s from its start instead (`ros2 bag play` cannot: "
        "make a playable copy with `mcap recover %s -o recovered.mcap` and `ros2 bag reindex`)",
        error,
        files[0].name,
        files[0],
    )
    return SalvagedMcap(files[0])


def _salvaged_records(salvage: SalvagedMcap) -> Iterator[tuple[str, str, int, bytes]]:
    """The salvage reader's records; BagError when the file is no MCAP at all."""
    try:
        yield from salvage.messages()
    except ValueError as error:
        raise BagError(f"bag {salvage.path.parent} is corrupt: {error}") from error


def _read_salvaged(salvage: SalvagedMcap, topics: Iterable[str] | None) -> Iterator[tuple[str, int, Any]]:
    typestore = get_typestore()
    wanted = None if topics is None else set(topics)
    count = 0
    for topic, msgtype, stamp_ns, raw in _salvaged_records(salvage):
        if wanted is not None and topic not in wanted:
            continue
        if msgtype not in typestore.types:
            raise BagError(f"bag {salvage.path}: type {msgtype} of {topic} is not in the type store")
        try:
            msg = typestore.deserialize_cdr(raw, msgtype)
        except _READ_ERRORS as error:
            raise BagError(
                f"bag {salvage.path}: message {count + 1} of {topic} is corrupt: {one_line(error, 200)}"
            ) from error
        count += 1
        yield topic, int(stamp_ns), msg
    if not count and wanted and not wanted <= set(salvage.topics()):
        _check_wanted(salvage.path.parent, set(salvage.topics()), wanted)
    LOG.warning(
        "%s: read %d message(s) before the cut at byte %s (%d damaged chunk(s) skipped)",
        salvage.path,
        count,
        salvage.truncated_at,
        salvage.skipped_chunks,
    )


@contextmanager
def _open_reader(path: Path) -> Iterator[AnyReader]:
    """An opened AnyReader over the rosbag2 directory at ``path``, closed on exit."""
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if not path.is_dir():
        raise BagError(f"bag {path} is not a rosbag2 directory (with metadata.yaml and a storage file)")
    try:
        reader = AnyReader([path], default_typestore=get_typestore())
        reader.open()
    except _READ_ERRORS as error:
        raise BagError(
            f"cannot open bag {path}: corrupt, truncated or not a rosbag2 ({one_line(error, limit=200)})"
        ) from error
    try:
        yield reader
    finally:
        reader.close()
