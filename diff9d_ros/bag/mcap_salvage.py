"""What a truncated MCAP file still holds, read record by record from its start.

A recording cut short (a full disk, a killed recorder, a copy that stopped) has no summary section
and no footer, so readers that start from the footer (rosbags, ``ros2 bag play``) reject it whole.
The MCAP data section is a plain sequence of records (MCAP specification, "Records": an opcode
byte, a uint64 length, the content), so everything before the cut can still be read, as
``mcap recover`` does: Schema and Channel records give the topics and types; Chunk records hold
them and the Messages (lz4, zstd or uncompressed). A chunk cut in the middle still yields its
complete messages when it is uncompressed; a compressed one is skipped whole.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_DATA_END = 0x03, 0x04, 0x05, 0x06, 0x0F
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


@dataclass
class SalvagedMcap:
    """Topics and types of the complete records, filled while :meth:`messages` runs."""

    path: Path
    schemas: dict[int, str] = field(default_factory=dict)  # schema id -> ROS type
    channels: dict[int, tuple[str, str]] = field(default_factory=dict)  # channel id -> (topic, type)
    skipped_chunks: int = 0
    truncated_at: int | None = None

    def topics(self) -> dict[str, str]:
        """Topic -> message type of every channel seen so far."""
        return dict(self.channels.values())

    def messages(self) -> Iterator[tuple[str, str, int, bytes]]:
        """(topic, type, log time in ns, CDR bytes) of every complete message, in file order."""
        data = self.path.read_bytes()
        if not data.startswith(MAGIC):
            raise ValueError(f"{self.path} is not an MCAP file (no MCAP magic)")
        yield from self._records(data, len(MAGIC), top_level=True)

    def _records(self, data: bytes, offset: int, top_level: bool) -> Iterator[tuple[str, str, int, bytes]]:
        while offset + 9 <= len(data):
            opcode, length = data[offset], _U64.unpack_from(data, offset + 1)[0]
            start, end = offset + 9, offset + 9 + length
            if end > len(data):
                if top_level:
                    self.truncated_at = offset
                    if opcode == OP_CHUNK:
                        yield from self._chunk(data[start:], partial=True)
                return
            if opcode == OP_DATA_END:
                return
            yield from self._record(opcode, data[start:end])
            offset = end
        if top_level:
            self.truncated_at = offset

    def _record(self, opcode: int, body: bytes) -> Iterator[tuple[str, str, int, bytes]]:
        if opcode == OP_SCHEMA:
            schema_id = _U16.unpack_from(body)[0]
            self.schemas[schema_id] = _string(body, 2)[0]
        elif opcode == OP_CHANNEL:
            channel_id, schema_id = _U16.unpack_from(body)[0], _U16.unpack_from(body, 2)[0]
            topic = _string(body, 4)[0]
            self.channels[channel_id] = (topic, self.schemas.get(schema_id, ""))
        elif opcode == OP_MESSAGE:
            channel_id = _U16.unpack_from(body)[0]
            log_time = _U64.unpack_from(body, 6)[0]
            if channel_id in self.channels:
                topic, msgtype = self.channels[channel_id]
                yield topic, msgtype, log_time, body[22:]
        elif opcode == OP_CHUNK:
            yield from self._chunk(body, partial=False)

    def _chunk(self, body: bytes, partial: bool) -> Iterator[tuple[str, str, int, bytes]]:
        """Records of a Chunk: start, end (u64), uncompressed size (u64), crc (u32),
        compression (string), records (u64-sized bytes)."""
        from rosbags.rosbag2.storage_mcap import DECOMPRESSORS

        try:
            compression, offset = _string(body, 28)
            size = _U64.unpack_from(body, offset)[0]
        except struct.error:
            self.skipped_chunks += 1
            return
        records = body[offset + 8 : offset + 8 + size]
        if compression:
            if partial or len(records) < size or compression not in DECOMPRESSORS:
                self.skipped_chunks += 1
                return
            records = DECOMPRESSORS[compression](records, 0)
        yield from self._records(records, 0, top_level=False)


def _string(buffer: bytes, offset: int) -> tuple[str, int]:
    """A uint32-length-prefixed UTF-8 string at ``offset`` and the offset after it."""
    length = _U32.unpack_from(buffer, offset)[0]
    end = offset + 4 + length
    if end > len(buffer):
        raise struct.error("string runs past the record")
    return buffer[offset + 4 : end].decode("utf-8"), end
