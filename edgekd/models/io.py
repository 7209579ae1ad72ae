"""Loading and saving Keras models, always in safe mode unless the user opts in.

A ``.keras`` file records the Keras version that wrote it (``metadata.json``): 3.x files
load with Keras 3, 2.x files (students edgekd built with tf_keras) with tf_keras. Safe
mode refuses to deserialize Python code such as ``Lambda`` layers (for tf_keras, whose safe
mode lets more through, edgekd refuses the rest: edgekd/models/tf_keras_safety.py); a SavedModel
folder, a program with no safe mode, needs the opt-in. ``trust=True`` (``--trust-model``) lifts
that, knowingly.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

from edgekd.artifacts import write_bytes_atomic
from edgekd.errors import ModelError
from edgekd.frameworks import Framework, keras_module, tensorflow
from edgekd.inputs import (
    check_archive_sizes,
    check_folder_files,
    check_regular_file,
    memory_limit_bytes,
    open_regular_file,
)
from edgekd.models.tf_keras_safety import check_tf_keras_config
from edgekd.native_output import captured_native_output

# Keras reads these members whole into memory; the sizes they may inflate to, and why that is generous.
_JSON_LIMIT = (64 << 20, "a model's config.json lists its layers; large real models need a few MiB")
KERAS_MEMBER_LIMITS = {"config.json": _JSON_LIMIT, "metadata.json": _JSON_LIMIT}

# The packages a .keras config may name as an object's `module`. Keras 3 imports only its own
# (keras, keras_hub, keras_cv, keras_nlp) and refuses the rest in safe mode, but tf_keras's safe
# mode imports whatever module the config names (a `rt_pwnmod.py` beside the model ran on load), so
# edgekd checks the names itself, before either Keras reads the file.
KERAS_PACKAGES = frozenset({"keras", "tf_keras", "keras_hub", "keras_cv", "keras_nlp"})
# Keras writes its built-in functions (activations, losses) as `"module": "builtins"` with the
# function's name; tf_keras falls back to Python's own builtins for a name Keras lacks (`eval`).
_PYTHON_BUILTINS = frozenset(dir(__import__("builtins")))


def keras_file_framework(path: Path) -> Framework:
    """Which Keras wrote a ``.keras`` archive, read from its metadata without loading it.

    Also refuses, before Keras reads anything, an archive whose members would inflate past
    ``KERAS_MEMBER_LIMITS`` or past what this machine can hold.
    """
    with open_regular_file(path, "model", ModelError) as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                names = set(archive.namelist())
                if "config.json" not in names:
                    raise ModelError(f"{path} is a zip archive but not a Keras model (no config.json inside)")
                check_archive_sizes(archive, str(path), ModelError, memory_limit_bytes(), KERAS_MEMBER_LIMITS)
                metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
                check_config_modules(json.loads(archive.read("config.json")), path)
        except RecursionError:
            raise ModelError(
                f"{path}: config.json is nested too deeply to be a Keras model; re-save the model"
            ) from None
        except zipfile.BadZipFile:
            raise ModelError(
                f"{path} is not a Keras .keras file (not a zip archive); it may be truncated or another format"
            ) from None
        except (OSError, ValueError) as exc:  # ValueError: JSON that does not parse or is not UTF-8
            raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{path}: metadata.json holds {type(metadata).__name__}, not a mapping; re-save the model")
    version = str(metadata.get("keras_version", "3"))
    return Framework.TF_KERAS if version.startswith("2.") else Framework.KERAS3


def check_config_modules(config, path: Path) -> None:
    """Refuse a model config naming a module outside Keras's own, before any Keras imports it.

    Holds whichever Keras reads the file and whatever its metadata claims; ``trust_model`` does
    not lift it (a model that needs a module of its own is a SavedModel or a model rebuilt in code).
    """
    pending = [config]
    while pending:  # iterative: a config is untrusted, and may be nested deeper than Python recurses
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        module = node.get("module") if "class_name" in node else None  # only objects are imported
        if module is not None:
            package = str(module).split(".", 1)[0]
            name = node.get("config") if node.get("class_name") == "function" else node.get("class_name")
            if package == "builtins" and str(name) in _PYTHON_BUILTINS:
                raise ModelError(
                    f"{path} names Python's built-in {str(name)[:40]!r} as a function, which is not a Keras "
                    "object; edgekd does not load it (re-save the model with Keras)"
                )
            if package != "builtins" and package not in KERAS_PACKAGES:
                raise ModelError(
                    f"{path} asks to import module {str(module)[:60]!r}, outside Keras's own "
                    f"({', '.join(sorted(KERAS_PACKAGES))}); edgekd does not import it, with or without "
                    "`trust_model`: load the model in your own code, or save it as a SavedModel folder (with `trust_model`)"
                )
        pending.extend(node.values())


def model_fingerprint(path: Path) -> str:
    """A short hash of a model file's bytes (every file of a SavedModel folder, by their paths in it)."""
    import hashlib

    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode() + b"\0")
        with open_regular_file(file, "model", ModelError) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_model(path: str | Path, trust: bool = False):
    """Load a Keras model from a ``.keras`` file or a SavedModel folder.

    Raises ``ModelError`` with the reason and the fix for a missing, corrupt or unsafe file.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model {path} does not exist; check the path")
    if path.is_dir():
        return _load_saved_model(path, trust)
    if path.suffix == ".h5":
        check_regular_file(path, "model", ModelError)
        if not trust:
            raise ModelError(
                f"{path} is a legacy HDF5 model, which cannot be loaded safely; re-save it as .keras, "
                "or pass `trust_model` if you trust its source"
            )
        return _load_keras_file(path, Framework.KERAS3, trust)
    if path.suffix != ".keras":
        raise ModelError(f"{path} is not a Keras model file; expected a .keras file or a SavedModel folder")
    framework = keras_file_framework(path)
    if framework is Framework.TF_KERAS and not trust:
        check_tf_keras_config(_keras_config(path), path)
    return _load_keras_file(path, framework, trust)


def _keras_config(path: Path):
    # keras_file_framework has already checked the archive and that config.json parses.
    with open_regular_file(path, "model", ModelError) as handle, zipfile.ZipFile(handle) as archive:
        return json.loads(archive.read("config.json"))


def _load_keras_file(path: Path, framework: Framework, trust: bool):
    keras = keras_module(framework)
    try:
        with captured_native_output():
            if framework is Framework.KERAS3:
                return keras.saving.load_model(path, compile=False, safe_mode=not trust)
            return keras.models.load_model(path, compile=False, safe_mode=not trust)
    except Exception as exc:  # Keras raises many types for a bad file; all mean the same to the user.
        reason = " ".join(str(exc).split())[:300]
        hint = ""
        if "safe_mode" in reason or "Lambda" in reason or "custom" in reason.lower():
            hint = "; the model holds code (a Lambda or custom object): pass `trust_model` only if you trust its source"
        raise ModelError(f"cannot load Keras model {path}: {reason}{hint}") from None


def _load_saved_model(path: Path, trust: bool):
    if not (path / "saved_model.pb").exists():
        raise ModelError(
            f"{path} is a folder but not a SavedModel (no saved_model.pb); give a .keras file or a SavedModel folder"
        )
    check_folder_files(path, "SavedModel", ModelError)
    # A SavedModel's graphs are a program, and it runs as it loads (resource initializers) and when
    # called: `tf.io.write_file` in either wrote a file. TensorFlow's SECURITY.md: running an
    # untrusted model is running untrusted code. There is no safe mode to load it in.
    if not trust:
        raise ModelError(
            f"{path} is a SavedModel, whose graphs run TensorFlow ops (files included) as it loads; "
            "pass `trust_model` if you trust its source, or give a .keras file (loaded in safe mode)"
        )
    keras = keras_module(Framework.KERAS3)
    try:
        with captured_native_output():
            layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    except Exception as exc:
        raise ModelError(f"cannot load SavedModel {path}: {' '.join(str(exc).split())[:300]}") from None
    spec = _saved_model_input_spec(path)
    inputs = keras.Input(spec[1:])
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ModelError(
                f"SavedModel {path} has outputs {sorted(outputs)}; edgekd needs exactly one (the class scores)"
            )
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=path.name)


def _saved_model_input_spec(path: Path) -> tuple:
    tf = tensorflow()
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ModelError(f"SavedModel {path} takes {len(specs)} inputs; edgekd needs exactly one")
    return tuple(specs[0].shape)


def _uncompiled(model):
    """The model alone, as a fresh copy with the same weights: no optimizer state and no compiled loss.

    edgekd compiles models with its own loss functions (closures), which a plain
    ``load_model`` could not rebuild: a saved file must load in any Keras without edgekd.
    """
    if getattr(model, "optimizer", None) is None:
        return model
    try:
        # From the architecture alone (clone_model would also rebuild the compiled loss).
        copy = type(model).from_config(model.get_config())
    except (ValueError, TypeError, NotImplementedError):
        return model  # a subclassed model without a config saves as it is
    copy.set_weights(model.get_weights())
    return copy


def save_model(model, path: Path) -> None:
    """Save ``model`` as ``.keras`` atomically (Keras writes to a temporary name we then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        with captured_native_output():
            _uncompiled(model).save(tmp)
        with open(tmp, "rb") as handle:
            data = handle.read()
    finally:
        os.unlink(tmp)
    write_bytes_atomic(path, data)
