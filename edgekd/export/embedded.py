"""Metadata carried inside the .tflite file itself, in the model's ``metadata`` table.

A TFLite model holds named metadata entries, each pointing at a byte buffer; the converter
writes ``min_runtime_version`` and ``CONVERSION_METADATA`` this way, and interpreters ignore
names they do not know, so an entry changes nothing the model computes. edgekd stores its
JSON document under ``edgekd_metadata``.

The TFLite Support ``TFLITE_METADATA`` entry (a second flatbuffer schema) would be the one
Android Studio reads, but its writer (``tflite-support`` 0.4.4, the last release) requires
protobuf < 4 and TensorFlow 2.21 requires protobuf >= 6.31; this entry uses only the model
schema that ships with ai-edge-litert.

Re-packing goes through the schema's object API with one change: every buffer's data is
aligned to 16 bytes (the schema's ``force_align: 16``, which the generated Python ignores).
The converter's own small files align them to 4 bytes only (measured); TFLite Micro reads
int32 biases in place, and some microcontrollers fault on unaligned loads, so the
re-packed file is never less aligned than the original.
"""

from __future__ import annotations

import json

import numpy as np

from edgekd.errors import ModelError

ENTRY_NAME = "edgekd_metadata"
BUFFER_ALIGNMENT = 16


def read_embedded_metadata(data: bytes) -> dict | None:
    """The edgekd document inside the model, or None when it carries none (or an unreadable one).

    The model may come from anywhere: anything but a JSON object of modest depth counts as unreadable.
    """
    from ai_edge_litert import schema_py_generated as schema

    from edgekd.results.document import MAX_NESTING, nesting_depth

    try:
        model = schema.Model.GetRootAs(data, 0)
        for index in range(model.MetadataLength()):
            entry = model.Metadata(index)
            if (entry.Name() or b"").decode(errors="replace") != ENTRY_NAME:
                continue
            buffer = model.Buffers(entry.Buffer())
            document = json.loads(buffer.DataAsNumpy().tobytes().decode("utf-8"))
            return document if isinstance(document, dict) and nesting_depth(document) <= MAX_NESTING else None
    except Exception:  # noqa: BLE001 - a damaged entry is "no metadata", never a crash of inspect
        return None
    return None


def embed_metadata(data: bytes, document: dict) -> bytes:
    """``data`` with ``document`` as its edgekd metadata entry (replacing an earlier one)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    except Exception as exc:  # noqa: BLE001 - the flatbuffer library raises anything on damaged input
        raise ModelError(f"cannot embed metadata: the model does not parse as TFLite ({exc})") from None
    if any(getattr(buffer, "offset", 0) for buffer in model.buffers or []):
        raise ModelError("cannot embed metadata in a model whose weights live outside its flatbuffer (over 2 GB)")
    payload = np.frombuffer(json.dumps(document, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    entries = list(model.metadata or [])
    existing = next((e for e in entries if _name(e.name) == ENTRY_NAME), None)
    if existing is not None:
        model.buffers[existing.buffer].data = payload
    else:
        buffer = schema.BufferT()
        buffer.data = payload
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = ENTRY_NAME
        entry.buffer = len(model.buffers) - 1
        entries.append(entry)
        model.metadata = entries
    model.buffers = [_AlignedBuffer.of(buffer) for buffer in model.buffers]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _name(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _aligned_vector(builder, payload: bytes) -> int:
    builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
    builder.head = builder.head - len(payload)
    builder.Bytes[builder.head : builder.head + len(payload)] = payload
    builder.vectorNumElems = len(payload)
    return builder.EndVector()


class _AlignedBuffer:
    """A BufferT that packs its data vector on a 16-byte boundary."""

    def __init__(self, data, offset: int, size: int):
        self.data, self.offset, self.size = data, offset, size

    @classmethod
    def of(cls, buffer) -> _AlignedBuffer:
        return cls(buffer.data, buffer.offset, buffer.size)

    def Pack(self, builder):  # noqa: N802 - the flatbuffers object API's name
        from ai_edge_litert import schema_py_generated as schema

        vector = None
        if self.data is not None and len(self.data):
            vector = _aligned_vector(builder, np.asarray(self.data, dtype=np.uint8).tobytes())
        schema.BufferStart(builder)
        if vector is not None:
            schema.BufferAddData(builder, vector)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def buffer_alignments(data: bytes) -> list[int]:
    """The absolute file offset of every non-empty buffer's data (to check alignment)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    offsets = []
    for index in range(model.BuffersLength()):
        buffer = model.Buffers(index)
        if buffer.DataLength():
            field = buffer._tab.Offset(4)  # noqa: SLF001 - the generated API has no public vector offset
            offsets.append(buffer._tab.Vector(field))  # noqa: SLF001
    return offsets
