"""A .tflite as C source: an aligned byte array and a header with its size, shapes and quantization.

This is the form TensorFlow Lite for Microcontrollers builds from (its examples' ``model.cc``):
the firmware passes the array to ``tflite::GetModel``. The array is 16-byte aligned, as the
flatbuffer's buffers require; the source compiles as C11 and as C++.
"""

from __future__ import annotations

import re

from edgekd.bench.tflm import TflmArena
from edgekd.export.arena import ArenaEstimate
from edgekd.modelfile.inspect import ModelReport, TensorInfo
from edgekd.untrusted import for_c_comment

ALIGNMENT = 16


def c_identifier(name: str) -> tuple[str, bool]:
    """A valid C identifier from ``name`` (letters, digits, underscores; not starting with a digit); True if changed."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = f"model_{cleaned}"
    return cleaned, cleaned != name


def _tensor_macros(prefix: str, tensor: TensorInfo) -> list[str]:
    # Tensor names come from the model file: never let one end the comment.
    lines = [f"/* {for_c_comment(tensor.name)}: {tensor.dtype} {list(tensor.shape)} */"]
    lines.append(f"#define {prefix}_DIMS {len(tensor.shape)}")
    lines += [f"#define {prefix}_DIM_{i} {d}" for i, d in enumerate(tensor.shape)]
    lines.append(f"#define {prefix}_TYPE_{tensor.dtype.upper()} 1")
    if len(tensor.scale) == 1:
        lines.append(f"#define {prefix}_SCALE {tensor.scale[0]!r}f")
        lines.append(f"#define {prefix}_ZERO_POINT {tensor.zero_point[0]}")
    elif tensor.scale:
        lines.append(f"/* per-channel quantization: {len(tensor.scale)} scales */")
    return lines


def _arena_lines(macro: str, arena: TflmArena | ArenaEstimate) -> list[str]:
    if arena.measured:
        about = (
            f"measured: the smallest in which TensorFlow Lite Micro runs the model (its allocator keeps {arena.head} "
            f"of activations and {arena.tail} that live as long as the model), on a 64-bit host with reference "
            "kernels; optimized kernels may add scratch buffers"
        )
    else:
        about = "ESTIMATED: the largest set of activations alive at once; TFLM's bookkeeping and scratch come on top"
    return [
        f"/* Tensor arena: {arena.bytes} bytes, {for_c_comment(about)}. */",
        f"#define {macro}_ARENA_SIZE {arena.bytes}",
        f"#define {macro}_ARENA_MEASURED {1 if arena.measured else 0}",
    ]


def render_header(identifier: str, report: ModelReport, arena: TflmArena | ArenaEstimate, comment: str) -> str:
    guard = f"{identifier.upper()}_H_"
    macro = identifier.upper()
    lines = [
        f"/* {for_c_comment(comment)} */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        f"#define {macro}_SIZE {report.size_bytes}",
        f"#define {macro}_ALIGNMENT {ALIGNMENT}",
        *_arena_lines(macro, arena),
        f"#define {macro}_MACS {report.macs}",
        "",
    ]
    for index, tensor in enumerate(report.inputs):
        lines += _tensor_macros(f"{macro}_INPUT_{index}", tensor)
    for index, tensor in enumerate(report.outputs):
        lines += _tensor_macros(f"{macro}_OUTPUT_{index}", tensor)
    lines += [
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        f"extern const unsigned char {identifier}[];",
        f"extern const unsigned int {identifier}_len;",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif  /* {guard} */",
        "",
    ]
    return "\n".join(lines)


def render_source(identifier: str, header_name: str, data: bytes, comment: str) -> str:
    rows = []
    for start in range(0, len(data), 12):
        rows.append("  " + ", ".join(f"0x{b:02x}" for b in data[start : start + 12]) + ",")
    return "\n".join(
        [
            f"/* {for_c_comment(comment)} */",
            f'#include "{header_name}"',
            "",
            "#if defined(__cplusplus)",
            f"#define EDGEKD_ALIGNED alignas({ALIGNMENT})",
            "#else",
            f"#define EDGEKD_ALIGNED _Alignas({ALIGNMENT})",
            "#endif",
            "",
            "#ifdef __cplusplus",
            'extern "C" {',
            "#endif",
            f"EDGEKD_ALIGNED const unsigned char {identifier}[] = {{",
            *rows,
            "};",
            f"const unsigned int {identifier}_len = {len(data)};",
            "#ifdef __cplusplus",
            "}",
            "#endif",
            "",
        ]
    )
