"""What a ``.keras`` file read by tf_keras may name when the user has not trusted it.

tf_keras's safe mode refuses only Python lambdas. Its deserializer returns whatever else a
config names, and a layer then calls it on a constant from the same file (the `_CONSTANT_VALUE`
inputs of a functional model's nodes), so a file claiming Keras 2 ran code in safe mode (tried
against tf_keras 2.21):

- a name with a dot is followed as an attribute: ``"os.system"`` in ``keras.src.utils.generic_utils``
  (which imports ``os``), or ``"exec.__call__"`` under ``builtins``, called by a ``Lambda``;
- ``registered_name`` is looked up in the module too: ``"eval"`` under ``builtins``;
- any public function is returned: ``keras.utils.get_file`` copied a ``file://`` URL into a folder
  the file chose, ``keras.models.load_model`` takes ``safe_mode=False`` as a ``Lambda`` argument;
- ``TFOpLambda`` calls the TensorFlow function its config names: ``io.write_file`` wrote a file,
  ``load_op_library`` loads a shared library;
- lookup layers read the file their ``vocabulary`` names into the model.

Keras 3 refuses each of these itself in safe mode (only ``KerasSaveable`` classes, no
non-modeling APIs, no vocabulary files), so this holds for the files tf_keras reads.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.errors import ModelError

# The tf_keras namespaces a model's objects come from (a config writes `keras.X` for `tf_keras.X`),
# and the ones its functions (activations, losses, metrics) come from.
_CLASS_NAMESPACES = frozenset(
    {
        "",  # `keras.Sequential`
        "layers",
        "initializers",
        "regularizers",
        "constraints",
        "losses",
        "metrics",
        "optimizers",
        "optimizers.legacy",
        "optimizers.schedules",
        "mixed_precision",
    }
)
_FUNCTION_NAMESPACES = frozenset({"activations", "losses", "metrics"})
# The internal modules tf_keras writes for a whole model's class and for a TensorFlow op in a
# functional model, with the classes it writes them for; anything else inside `src` is internals.
_MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
_INTERNAL_MODULES = {
    "src.engine.functional": _MODEL_CLASSES,
    "src.engine.sequential": _MODEL_CLASSES,
    "src.engine.training": _MODEL_CLASSES,
    "src.layers.core.tf_op_layer": frozenset({"TFOpLambda", "SlicingOpLambda"}),
}
# Layers that call a TensorFlow function, class method or attribute named in their config; the
# first two are what tf_keras records for `x + 1` or `tf.nn.relu6(x)`, and may name pure math.
_NAME_CALLING_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda", "ClassMethod", "InstanceMethod", "InstanceProperty"})
_TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
_PURE_TF_NAMESPACES = ("math.", "nn.", "__operators__.")
# Values, not lookups.
_VALUES = frozenset({"__tensor__", "__numpy__", "__bytes__"})
_PYTHON_BUILTINS = frozenset(dir(__import__("builtins")))


def check_tf_keras_config(config, path: Path) -> None:
    """Refuse a config, read by tf_keras in safe mode, naming anything but Keras's own model parts."""
    pending = [config]
    while pending:  # iterative: a config is untrusted, and may be nested deeper than Python recurses
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        pending.extend(node.values())
        if "class_name" in node:
            reason = _refusal(node)
            if reason:
                raise ModelError(
                    f"{path} {reason}; tf_keras, which reads this Keras 2 file, would run it even in safe mode, "
                    "so edgekd does not load it: pass `trust_model` only if you trust its source"
                )


def _refusal(node: dict) -> str | None:
    class_name = node["class_name"]
    if not isinstance(class_name, str):
        return f"names a {type(class_name).__name__} as a class, which is not a Keras name"
    if class_name in _VALUES:
        return None
    if class_name == "__lambda__":
        return "holds Python code (a lambda)"
    inner = node.get("config")
    if class_name in _NAME_CALLING_LAYERS:
        function = inner.get("function") if isinstance(inner, dict) else None
        if not (class_name in _TF_OP_LAYERS and isinstance(function, str) and function.startswith(_PURE_TF_NAMESPACES)):
            return (
                f"has a {class_name} layer calling {str(function)[:60]!r}, a TensorFlow name outside "
                f"{', '.join(name + '*' for name in _PURE_TF_NAMESPACES)}"
            )
    if isinstance(inner, dict) and isinstance(inner.get("vocabulary"), str):
        return f"has a layer reading its vocabulary from the file {inner['vocabulary'][:60]!r}"
    is_function = class_name == "function"
    name = inner if is_function else node.get("spec_name") if class_name == "__typespec__" else class_name
    names = [name] + ([node["registered_name"]] if node.get("registered_name") is not None else [])
    for each in names:
        if not (isinstance(each, str) and each.isidentifier()):
            return f"names {str(each)[:60]!r}, which is not a plain Keras name"
    module = node.get("module")
    if module is None:
        return None  # looked up among Keras's own layers by class name alone
    if module == "builtins":
        builtin = next((each for each in names if each in _PYTHON_BUILTINS), None)
        if not is_function or builtin:
            return f"names Python's built-in {builtin or name!r}, which is not a Keras object"
        return None
    namespace = _namespace(str(module))
    if is_function:
        if namespace not in _FUNCTION_NAMESPACES:
            return f"names the function {name!r} in {str(module)[:60]!r}, not a Keras activation, loss or metric"
        return None
    if name in _INTERNAL_MODULES.get(namespace, ()):
        return None
    if namespace not in _CLASS_NAMESPACES:
        return f"names {name!r} in {str(module)[:60]!r}, outside the Keras namespaces a model is made of"
    import importlib

    public = importlib.import_module(f"tf_keras.{namespace}".rstrip("."))
    for each in names:
        found = getattr(public, each, None)
        if found is not None and not isinstance(found, type):
            return f"names {each!r} in {module!r} as a class, but it is a {type(found).__name__}"
    return None


def _namespace(module: str) -> str | None:
    """``keras.layers`` or ``tf_keras.layers`` -> ``layers``; None for a module outside Keras."""
    for package in ("tf_keras", "keras"):
        if module == package:
            return ""
        if module.startswith(package + "."):
            return module[len(package) + 1 :]
    return None
