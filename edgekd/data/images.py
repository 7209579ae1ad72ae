"""``images:DIR[,size=WxH,color=rgb|gray,scale=unit|symmetric|raw,preprocess=FAMILY]``: an image folder, streamed.

Laid out as ``edgekd.data.folders`` describes (one sub-folder per class, optional
``DIR/train`` and ``DIR/test``). Images stay on disk: loading
lists them and checks each file's header (a pipe, a damaged header or a decompression bomb
fails then, naming the file), and tf.data decodes them when a stage reads them.

Every image becomes ``size`` (default: the first image's) in ``color`` (default: the first
image's mode), scaled by ``scale`` (default ``unit``, [0, 1]) or by the ``preprocess_input``
of a keras.applications family (``edgekd.data.scaling``). ``teacher_size``,
``teacher_color``, ``teacher_scale`` and ``teacher_preprocess`` give the teacher its own
view of the same decoded images (its resolution and preprocessing); unset, it sees the
student's.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from edgekd.data.dataset import Dataset
from edgekd.data.folders import checked_files
from edgekd.data.samples import FileStream, Source
from edgekd.data.scaling import Scaling, scaling_from
from edgekd.data.spec import register
from edgekd.errors import DataError
from edgekd.frameworks import tensorflow
from edgekd.inputs import open_regular_file
from edgekd.progress import Reporter

# What tf.io.decode_image reads.
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
COLORS = {"rgb": 3, "gray": 1}
VIEW_OPTIONS = ("size", "color", "scale", "preprocess")
OPTIONS = (*VIEW_OPTIONS, *(f"teacher_{name}" for name in VIEW_OPTIONS))
# A side past this is surely a typo (ImageNet models take 224-600 pixels).
MAX_SIDE = 4096


@dataclass(frozen=True)
class ImageView:
    """An image as a model sees it: resized to ``size`` (width, height), in ``channels``, scaled."""

    size: tuple[int, int]
    channels: int
    scaling: Scaling

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.size[1], self.size[0], self.channels)

    def apply(self, pixels):
        """``pixels``: the decoded RGB image, uint8 (height, width, 3)."""
        tf = tensorflow()
        if self.channels == 1:
            pixels = tf.image.rgb_to_grayscale(pixels)
        height, width, _ = self.sample_shape
        resized = tf.image.resize(tf.cast(pixels, tf.float32), (height, width), antialias=True)
        resized = tf.ensure_shape(resized, self.sample_shape)
        return self.scaling.apply(tf.clip_by_value(resized, 0.0, 255.0))

    def describe(self) -> dict:
        return {
            "image_size": list(self.size),
            "color": "gray" if self.channels == 1 else "rgb",
            "normalization": self.scaling.describe(),
        }


def _decode(contents):
    # Three channels always: GIFs decode only so, and a gray view is converted from it.
    return tensorflow().io.decode_image(contents, channels=3, expand_animations=False)


IMAGE_SOURCE = Source("image", _decode)


def parse_size(text: str, key: str = "size") -> tuple[int, int]:
    """``96x96`` as (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not match:
        raise DataError(f"`{key}` {text!r} is not WxH; write it as width x height, e.g. {key}=96x96")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise DataError(f"`{key}` {text!r}: each side must be from 1 to {MAX_SIDE} pixels")
    return width, height


def _color(text: str | None, key: str) -> int | None:
    if text is None:
        return None
    if text not in COLORS:
        raise DataError(f"`{key}` {text!r} is not a colour mode; known: {', '.join(COLORS)}")
    return COLORS[text]


@dataclass(frozen=True)
class ViewOptions:
    """A view's options before the first image fills in what was left out (size, colour)."""

    size: tuple[int, int] | None
    channels: int | None
    scaling: Scaling

    @staticmethod
    def parse(options: dict[str, str], prefix: str = "") -> ViewOptions:
        size = options.get(f"{prefix}size")
        channels = _color(options.get(f"{prefix}color"), f"{prefix}color")
        scaling = scaling_from(options.get(f"{prefix}scale"), options.get(f"{prefix}preprocess"), prefix)
        if scaling.needs_rgb and channels == 1:
            raise DataError(
                f"`{prefix}preprocess` {options[f'{prefix}preprocess']} is for RGB images; drop `{prefix}color` gray"
            )
        return ViewOptions(parse_size(size, f"{prefix}size") if size else None, channels, scaling)

    def resolve(
        self, size: tuple[int, int], channels: int, source: str = "the first image", prefix: str = ""
    ) -> ImageView:
        """The view, with what was left out taken from ``source``'s ``size`` and ``channels``.

        A size taken from an image is held to the same cap as ``size=`` (a 6000x6000 PNG of a
        few kilobytes would otherwise make every sample 108 MB).
        """
        if self.scaling.needs_rgb and self.channels is None:
            channels = 3
        if self.size is None and not (1 <= size[0] <= MAX_SIDE and 1 <= size[1] <= MAX_SIDE):
            raise DataError(
                f"{source} is {size[0]}x{size[1]} pixels and no `{prefix}size` is given, so every image would be "
                f"resized to that: each side of a model's input must be from 1 to {MAX_SIDE}; give "
                f"{prefix}size=WxH (e.g. {prefix}size=224x224)"
            )
        return ImageView(self.size or size, self.channels or channels, self.scaling)


def check_options(options: dict[str, str]) -> tuple[ViewOptions, ViewOptions | None]:
    """The student's view options and, when any ``teacher_*`` option is given, the teacher's."""
    student = ViewOptions.parse(options)
    if not any(key.startswith("teacher_") for key in options):
        return student, None
    teacher = ViewOptions.parse(options, "teacher_")
    if "teacher_scale" not in options and "teacher_preprocess" not in options:
        teacher = replace(teacher, scaling=student.scaling)
    return student, teacher


@register(
    "images",
    "images:DIR[,size=WxH,color=rgb|gray,scale=unit|symmetric|raw or preprocess=FAMILY,teacher_<option>=...] "
    "(one sub-folder per class, optional DIR/train and DIR/test)",
    options=OPTIONS,
    check_options=check_options,
)
def load_images(argument: str, options: dict[str, str], reporter: Reporter) -> Dataset:
    root = Path(argument)
    student_options, teacher_options = check_options(options)
    files, first = checked_files(root, SUFFIXES, "images", reporter, _check_image)
    student = student_options.resolve(first["size"], first["channels"], f"the first image, {first['path']},")
    x_train, y_train = files.paths_and_labels("train")
    x_test, y_test = files.paths_and_labels("test")
    x_val, y_val = files.paths_and_labels("val") if files.val is not None else (None, None)
    paths = {"train": x_train, "test": x_test, **({"val": x_val} if x_val is not None else {})}
    streams = {name: FileStream(split, IMAGE_SOURCE, student) for name, split in paths.items()}
    description = {"source": str(root), **student.describe()}
    teacher = None
    if teacher_options is not None:
        view = teacher_options.resolve(student.size, student.channels)
        description["teacher_view"] = view.describe()
        teacher = Dataset(
            root.name, streams["train"].with_view(view), y_train, streams["test"].with_view(view), y_test,
            len(files.class_names), files.class_names, description={"source": str(root), **view.describe()},
            x_val=streams["val"].with_view(view) if "val" in streams else None, y_val=y_val,
        )  # fmt: skip
    return Dataset(
        name=root.name,
        x_train=streams["train"],
        y_train=y_train,
        x_test=streams["test"],
        y_test=y_test,
        num_classes=len(files.class_names),
        class_names=files.class_names,
        description=description,
        teacher=teacher,
        x_val=streams.get("val"),
        y_val=y_val,
    )


@contextlib.contextmanager
def _opened_image(path: Path):
    """The image at ``path``, header read; a pipe, a damaged file or a decompression bomb is one DataError.

    PIL only warns between its pixel limit and twice that; here the warning is an error too.
    """
    from PIL import Image, UnidentifiedImageError

    with open_regular_file(path, "image", DataError) as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DataError(
                f"image {path} is too large to decode safely ({str(exc).rstrip('.')}); it may be a decompression bomb: remove it, "
                "or shrink it if it is a real photo"
            ) from None
        except ValueError as exc:
            # PIL's limit on what a PNG's text or colour-profile chunk inflates to (MAX_TEXT_CHUNK, 1 MB).
            raise DataError(
                f"cannot read image {path}: {exc}; it may be a decompression bomb: remove or replace it"
            ) from None
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read image {path}: {exc}; remove or replace it") from None
        with image:
            yield image


def _check_image(path: Path, first: dict | None) -> dict:
    """Check an image without decoding its pixels; returns its size and channel count.

    PIL's ``verify`` walks the file's structure (for PNG, every chunk and its checksum), so a
    truncated or corrupted file fails here, not an hour into training.
    """
    with _opened_image(path) as image:
        gray = image.mode in ("1", "L", "I", "I;16", "F")
        found = {"size": tuple(image.size), "channels": 1 if gray else 3, "path": path}
        try:
            image.verify()
        except (OSError, SyntaxError, ValueError) as exc:
            raise DataError(f"cannot read image {path}: {exc}; remove or replace it") from None
    return found
