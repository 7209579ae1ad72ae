"""Reading the user's files: regular files only, and archives whose sizes are checked before they are inflated.

A named pipe (FIFO), a terminal or a device given where a file is expected makes a plain
``open()`` wait for a writer or a ``read()`` never end, so every file edgekd reads is first
opened without blocking and refused unless it is a regular file. Libraries that insist on a
path (Keras, TensorFlow, PIL) get one only after the same check.

A zip archive (``.npz``, ``.keras``) declares the inflated size of every member in its
directory, and ``zipfile`` never inflates a member past that size; so checking the declared
sizes against limits bounds what reading the archive can allocate, before anything is read.
An ``.npy`` member's header declares its array's shape, which numpy allocates before reading
the data: it is checked against what the member holds.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edgekd.errors import EdgekdError

# Without O_NONBLOCK, opening a FIFO for reading waits until some process opens it for writing.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def special_file_kind(path: str | Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a folder ("a named pipe (FIFO)"), else None.

    For files a library opens by name (SQLite databases), judged without opening them.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else _kind(mode)


def open_regular_file(path: str | Path, what: str, error: type[EdgekdError]) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symbolic links followed); else raise ``error``.

    ``what`` names the file in messages ("npz file", "config"). The check is made on the
    opened descriptor, so the file cannot be swapped for a pipe between the check and the read.

    >>> with open_regular_file("data.npz", "npz file", DataError) as handle:  # doctest: +SKIP
    ...     header = handle.read(4)
    """
    path = Path(path)
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise error(
                f"{what} {path} is {_kind(mode)}, not a regular file (reading one could block forever); "
                "give a regular file"
            )
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def check_regular_file(path: str | Path, what: str, error: type[EdgekdError]) -> Path:
    """Raise ``error`` unless ``path`` is a regular file; for libraries that open the path themselves."""
    with open_regular_file(path, what, error):
        pass
    return Path(path)


def read_regular_file(path: str | Path, what: str, error: type[EdgekdError], limit: int | None = None) -> bytes:
    """The bytes of ``path``, which must be a regular file (of at most ``limit`` bytes, when given)."""
    with open_regular_file(path, what, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        if limit is not None and size > limit:
            raise error(
                f"{what} {path} is {describe_size(size)}, more than the {describe_size(limit)} a {what} can "
                "plausibly be; give the right file"
            )
        try:
            return handle.read() if limit is None else handle.read(limit + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def check_folder_files(folder: str | Path, what: str, error: type[EdgekdError]) -> None:
    """Raise ``error`` if anything inside ``folder`` (a SavedModel, say) is neither a folder nor a regular file."""
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                raise error(f"cannot read {path} in {what} {folder}: {exc.strerror or exc}") from None
            if not stat.S_ISREG(mode):
                raise error(
                    f"{path} in {what} {folder} is {_kind(mode)}, not a regular file (reading one could block "
                    "forever); replace it with the real file"
                )


_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def describe_size(count: int) -> str:
    """``1.5 GiB``: a byte count for messages."""
    for unit, scale in _UNITS:
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} bytes"


def parse_size(text: str) -> int:
    """``512MiB``, ``4 GiB``, ``1.5GB`` or a plain byte count, as bytes (GB and GiB both count in 1024s).

    >>> parse_size("2GiB")
    2147483648
    """
    import re

    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]i?B|B|bytes)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a size; write it as 512MiB, 4GiB or a number of bytes")
    unit = (match.group(2) or "B").upper().replace("I", "").replace("BYTES", "B")
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]
    return int(float(match.group(1)) * scale)


def check_archive_sizes(
    archive: zipfile.ZipFile,
    source: str,
    error: type[EdgekdError],
    total_limit: int,
    member_limits: Mapping[str, tuple[int, str]] | None = None,
) -> None:
    """Refuse ``archive`` if its members would inflate past the limits, judged from the sizes it declares.

    ``total_limit`` bounds all members together (they are read into memory); ``member_limits``
    maps a member's name to (its own limit, why that limit is generous).
    """
    members = archive.infolist()
    for info in members:
        limit, reason = (member_limits or {}).get(info.filename, (None, ""))
        if limit is not None and info.file_size > limit:
            raise error(
                f"{source}: {info.filename} inflates to {describe_size(info.file_size)} "
                f"(stored in {describe_size(info.compress_size)}), more than the {describe_size(limit)} allowed "
                f"({reason}); the file is damaged or hostile"
            )
    total = sum(info.file_size for info in members)
    if total > total_limit:
        raise error(
            f"{source} inflates to {describe_size(total)} (stored in "
            f"{describe_size(sum(info.compress_size for info in members))}), more than the "
            f"{describe_size(total_limit)} edgekd may hold in memory on this machine; use a smaller file"
        )


def available_memory_bytes() -> int:
    """Memory the system could give this process now without swapping (``MemAvailable``), or half the RAM."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return memory_limit_bytes()


def memory_limit_bytes() -> int:
    """How much one input (a dataset, a model archive) may take in memory: half of this machine's RAM.

    Half, because training and conversion hold at least a second copy of what they read
    (float32 conversion, batches, the teacher's cached outputs).
    """
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        physical = 16 << 30  # an unknown machine: assume a modest 16 GiB
    return max(physical // 2, 1 << 30)


def read_npz_arrays(
    path: str | Path, what: str, error: type[EdgekdError], fix: str, map_if_large: bool = False
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file by name, every size checked before numpy allocates anything.

    Only ``.npy`` members are arrays (others, such as notes, are skipped); pickled objects are
    refused. ``fix`` ends the message for a file that is not a readable archive. An archive
    past the memory limit is refused, or with ``map_if_large`` memory-mapped where its
    members lie (``np.memmap``: nothing but headers is read), which needs uncompressed members.
    """
    path = Path(path)
    with open_regular_file(path, what, error) as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                members = [info for info in archive.infolist() if info.filename.endswith(".npy")]
                total = sum(info.file_size for info in archive.infolist())
                if map_if_large and total > memory_limit_bytes():
                    return {_array_name(info): _mapped_member(handle, archive, info, path, error) for info in members}
                check_archive_sizes(archive, str(path), error, memory_limit_bytes())
                for info in members:
                    _check_array_header(archive, info, path, error)
                return {_array_name(info): _read_array(archive, info) for info in members}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise error(f"{what} {path} is unreadable ({exc}); {fix}") from None


def _array_name(info: zipfile.ZipInfo) -> str:
    return info.filename[: -len(".npy")]


def _mapped_member(handle, archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, error) -> np.ndarray:
    """One stored member as a read-only memory map of the archive at the member's data."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise error(
            f"{path}: {_array_name(info)} is compressed and the archive ({describe_size(info.file_size)} for this "
            f"array) is larger than the {describe_size(memory_limit_bytes())} edgekd may hold in memory; save it "
            "with numpy.savez (not savez_compressed), or as a folder of .npy files, which edgekd reads from disk"
        )
    _check_array_header(archive, info, path, error)
    # A member's data follows its local header: 30 bytes, then its name and extra field.
    handle.seek(info.header_offset + 26)
    name_length, extra_length = struct.unpack("<HH", handle.read(4))
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    return _map_npy(handle, path, handle.tell())


def _map_npy(handle, path: Path, start: int) -> np.ndarray:
    """The ``.npy`` array whose magic starts at ``start`` of ``handle``'s file, memory-mapped read-only."""
    handle.seek(start)
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(handle)
    if dtype.hasobject:
        raise ValueError(f"{path}: holds Python objects, which edgekd never loads")
    order = "F" if fortran_order else "C"
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, offset=handle.tell(), order=order)


def map_npy_file(path: str | Path, what: str, error: type[EdgekdError]) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only (nothing but its header is read), its declared size checked."""
    path = Path(path)
    with open_regular_file(path, what, error) as handle:
        try:
            array = _map_npy(handle, path, 0)
        except (OSError, ValueError, EOFError) as exc:
            raise error(f"{what} {path} is unreadable ({exc}); save it with numpy.save") from None
    return array


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    # allow_pickle=False: an .npz must never be able to run code while loading.
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _check_array_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, error: type[EdgekdError]) -> None:
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
        declared = math.prod(shape) * dtype.itemsize
        held = info.file_size - member.tell()
    if declared > held:
        raise error(
            f"{path}: {info.filename[: -len('.npy')]} declares a {'x'.join(map(str, shape)) or 'scalar'} {dtype} "
            f"array ({describe_size(declared)}) but holds only {describe_size(held)} of data; the file is damaged "
            "or was not written by numpy"
        )
