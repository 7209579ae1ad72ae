#!/usr/bin/env python3
"""Rebuild the published models of the device calibration and count their work per operator class.

    python scripts/calibration_models.py [--only ID ...] [--list]

Each model that a calibration point in ``devices/calibration/measurements.yaml`` names is
rebuilt here (keras.applications with ``weights=None``, edgekd's ``dscnn`` and ``resnet``
families at MLPerf Tiny's reference size, the MLPerf Tiny autoencoder and visual-wake-words
MobileNet from their training code), converted to int8 with random calibration samples
(the work per op class depends on the architecture, not on the weights), and inspected:
MACs per class, elements per pooling and elementwise op, op count, weight and input/output
bytes, and the split an Edge TPU would make. The counts go to
``devices/calibration/models.yaml``, so ``scripts/calibrate_devices.py`` and edgekd itself
never rebuild a model. Building the large ImageNet models takes a few minutes each.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CALIBRATION_SAMPLES = 2
OUT = Path(__file__).resolve().parents[1] / "devices" / "calibration" / "models.yaml"


def _apps():
    import keras

    return keras.applications


def _keras():
    import keras

    return keras


def _batch_one(shape):
    """An input of batch 1: the converter then writes static shapes (no SHAPE/PACK ops around a Reshape), as in
    the published .tflite files and as edgetpu_compiler needs them."""
    return _keras().Input(batch_shape=(1, *shape))


def _autoencoder():
    """MLPerf Tiny anomaly detection: mlcommons/tiny benchmark/training/anomaly_detection/keras_model.py, 640 inputs."""
    keras = _keras()
    inputs = _batch_one((640,))
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = keras.layers.Dense(units)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    return keras.Model(inputs, keras.layers.Dense(640)(x))


def _edgekd_family(name, shape, classes):
    from edgekd.models.builders import get_builder

    return lambda: get_builder(name).build(shape, classes)


# id: (architecture, input shape, builder)
MODELS = {
    "mlperf-tiny-kws-dscnn": (
        "MLPerf Tiny keyword spotting DS-CNN: edgekd `dscnn` family at reference size (width 1, 4 blocks), 12 classes",
        (49, 10, 1),
        _edgekd_family("dscnn", (49, 10, 1), 12),
    ),
    "mlperf-tiny-ic-resnet8": (
        "MLPerf Tiny image classification ResNet-8: edgekd `resnet` family at reference size, 10 classes",
        (32, 32, 3),
        _edgekd_family("resnet", (32, 32, 3), 10),
    ),
    "mlperf-tiny-vww-mobilenet-v1-0.25": (
        "MLPerf Tiny visual wake words: MobileNetV1 alpha 0.25, 96x96x3, 2 classes "
        "(mlcommons/tiny benchmark/training/visual_wake_words/vww_model.py)",
        (96, 96, 3),
        lambda: _apps().MobileNet(input_tensor=_batch_one((96, 96, 3)), alpha=0.25, weights=None, classes=2),
    ),
    "mlperf-tiny-ad-autoencoder": (
        "MLPerf Tiny anomaly detection: dense autoencoder 640-128x4-8-128x4-640 with BatchNorm "
        "(mlcommons/tiny benchmark/training/anomaly_detection/keras_model.py)",
        (640,),
        _autoencoder,
    ),
    "tflm-person-detection-mobilenet-v1-0.25": (
        "TensorFlow Lite Micro's person_detection model: MobileNetV1 alpha 0.25, 96x96 grayscale, 2 classes",
        (96, 96, 1),
        lambda: _apps().MobileNet(input_tensor=_batch_one((96, 96, 1)), alpha=0.25, weights=None, classes=2),
    ),
    "mobilenet-v2-0.30-80": (
        "MobileNetV2 alpha 0.30, 80x80x3, 1000 classes (the model of Plumerai's Cortex-M comparison)",
        (80, 80, 3),
        lambda: _apps().MobileNetV2(input_tensor=_batch_one((80, 80, 3)), alpha=0.3, weights=None),
    ),
    "mobilenet-v1-1.0-224": (
        "MobileNetV1 1.0, 224x224x3 (keras.applications.MobileNet)",
        (224, 224, 3),
        lambda: _apps().MobileNet(input_tensor=_batch_one((224, 224, 3)), weights=None),
    ),
    "mobilenet-v2-1.0-224": (
        "MobileNetV2 1.0, 224x224x3 (keras.applications.MobileNetV2)",
        (224, 224, 3),
        lambda: _apps().MobileNetV2(input_tensor=_batch_one((224, 224, 3)), weights=None),
    ),
    "mobilenet-v3-large-224": (
        "MobileNetV3 Large 1.0, 224x224x3, no preprocessing layers (keras.applications.MobileNetV3Large)",
        (224, 224, 3),
        lambda: _apps().MobileNetV3Large(
            input_tensor=_batch_one((224, 224, 3)), weights=None, include_preprocessing=False
        ),
    ),
    "mobilenet-v3-small-224": (
        "MobileNetV3 Small 1.0, 224x224x3, no preprocessing layers (keras.applications.MobileNetV3Small)",
        (224, 224, 3),
        lambda: _apps().MobileNetV3Small(
            input_tensor=_batch_one((224, 224, 3)), weights=None, include_preprocessing=False
        ),
    ),
    "nasnet-mobile-224": (
        "NASNet-A Mobile, 224x224x3 (keras.applications.NASNetMobile)",
        (224, 224, 3),
        lambda: _apps().NASNetMobile(input_tensor=_batch_one((224, 224, 3)), weights=None),
    ),
    "inception-resnet-v2-299": (
        "Inception-ResNet-V2, 299x299x3 (keras.applications.InceptionResNetV2)",
        (299, 299, 3),
        lambda: _apps().InceptionResNetV2(input_tensor=_batch_one((299, 299, 3)), weights=None),
    ),
    "resnet50-v1-299": (
        "ResNet-50 V1, 299x299x3 (keras.applications.ResNet50)",
        (299, 299, 3),
        lambda: _apps().ResNet50(input_tensor=_batch_one((299, 299, 3)), weights=None),
    ),
    "resnet50-v2-299": (
        "ResNet-50 V2, 299x299x3 (keras.applications.ResNet50V2)",
        (299, 299, 3),
        lambda: _apps().ResNet50V2(input_tensor=_batch_one((299, 299, 3)), weights=None),
    ),
    "resnet152-v2-299": (
        "ResNet-152 V2, 299x299x3 (keras.applications.ResNet152V2)",
        (299, 299, 3),
        lambda: _apps().ResNet152V2(input_tensor=_batch_one((299, 299, 3)), weights=None),
    ),
    "vgg16-224": (
        "VGG16, 224x224x3 (keras.applications.VGG16)",
        (224, 224, 3),
        lambda: _apps().VGG16(input_tensor=_batch_one((224, 224, 3)), weights=None),
    ),
    "vgg19-224": (
        "VGG19, 224x224x3 (keras.applications.VGG19)",
        (224, 224, 3),
        lambda: _apps().VGG19(input_tensor=_batch_one((224, 224, 3)), weights=None),
    ),
    "inception-v3-299": (
        "Inception V3, 299x299x3 (keras.applications.InceptionV3)",
        (299, 299, 3),
        lambda: _apps().InceptionV3(input_tensor=_batch_one((299, 299, 3)), weights=None),
    ),
}


def _mobilenet(version: int, alpha: float, size: int, **options):
    def build():
        application = _apps().MobileNet if version == 1 else _apps().MobileNetV2
        return application(input_tensor=_batch_one((size, size, 3)), alpha=alpha, weights=None, **options)

    return build


def _mobilenet_v3(kind: str, alpha: float, minimalistic: bool):
    def build():
        application = _apps().MobileNetV3Large if kind == "large" else _apps().MobileNetV3Small
        return application(
            input_tensor=_batch_one((224, 224, 3)),
            alpha=alpha,
            minimalistic=minimalistic,
            weights=None,
            include_preprocessing=False,
        )

    return build


# The MobileNet grids of the TFLite hosted-models table (v1: width x resolution) and of MLPerf Inference v1.0's
# Raspberry Pi 4 submission (v1, v2 and v3 variants): small models, whose points show each device's per-invoke and
# per-op costs. keras.applications builds each at the published width and resolution.
for _alpha in ("0.25", "0.5", "0.75", "1.0"):
    for _size in (128, 160, 192, 224):
        MODELS.setdefault(
            f"mobilenet-v1-{_alpha}-{_size}",
            (
                f"MobileNetV1 {_alpha}, {_size}x{_size}x3 (keras.applications.MobileNet)",
                (_size, _size, 3),
                _mobilenet(1, float(_alpha), _size),
            ),
        )
for _alpha in ("0.35", "0.5", "0.75", "1.0"):
    for _size in (96, 128, 160, 192, 224):
        MODELS.setdefault(
            f"mobilenet-v2-{_alpha}-{_size}",
            (
                f"MobileNetV2 {_alpha}, {_size}x{_size}x3 (keras.applications.MobileNetV2)",
                (_size, _size, 3),
                _mobilenet(2, float(_alpha), _size),
            ),
        )
MODELS["mobilenet-v2-1.4-224"] = (
    "MobileNetV2 1.4, 224x224x3 (keras.applications.MobileNetV2)",
    (224, 224, 3),
    _mobilenet(2, 1.4, 224),
)
for _kind, _alpha, _minimalistic in (("large", 0.75, False), ("small", 0.75, False), ("large", 1.0, True),
                                     ("small", 1.0, True)):  # fmt: skip
    _name = f"mobilenet-v3-{_kind}-{'minimalistic' if _minimalistic else _alpha}-224"
    MODELS[_name] = (
        f"MobileNetV3 {_kind.capitalize()} {_alpha:g}{' minimalistic' if _minimalistic else ''}, 224x224x3, no "
        "preprocessing layers (keras.applications)",
        (224, 224, 3),
        _mobilenet_v3(_kind, _alpha, _minimalistic),
    )


def count(model_id: str) -> dict:
    """Build, convert and count one model."""
    import gc

    import numpy as np

    from edgekd.modelfile.edgetpu import edgetpu_verdict
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.modelfile.workload import workload
    from edgekd.quantize.convert import convert

    architecture, shape, build = MODELS[model_id]
    model = build()
    samples = np.random.default_rng(0).standard_normal((CALIBRATION_SAMPLES, *shape)).astype(np.float32)
    data = convert(model, "int8", samples)
    del model
    gc.collect()
    report = inspect_tflite(data, model_id)
    split = workload(report, edgetpu_verdict(report))
    return {
        "architecture": architecture,
        "input_shape": list(shape),
        "params": report.params,
        "macs": report.macs,
        "int8_bytes": len(data),
        **split.as_dict(),
    }


def main() -> int:
    import yaml

    from edgekd.artifacts import write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="rebuild only these model ids (others are kept)")
    parser.add_argument("--list", action="store_true", help="list the model ids and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(MODELS))
        return 0
    unknown = sorted(set(args.only or ()) - set(MODELS))
    if unknown:
        parser.error(f"unknown model id(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    document = yaml.safe_load(OUT.read_text()) if OUT.is_file() else {}
    models = dict(document.get("models") or {})
    for model_id in args.only or MODELS:
        print(f"building {model_id} ...", flush=True)
        models[model_id] = count(model_id)
        print(f"  {models[model_id]['macs']:,} MACs, {models[model_id]['total']['ops']} ops", flush=True)
        document = {
            "schema_version": 1,
            "generated_by": "scripts/calibration_models.py (int8, random calibration samples)",
            "generated_on": datetime.date.today().isoformat(),
            "models": {key: models[key] for key in MODELS if key in models},
        }
        write_text_atomic(OUT, yaml.safe_dump(document, sort_keys=False, width=120), replace=True)
    print(f"wrote {OUT}")
    return 0


def _fully_connected(features: int, hidden: tuple[int, ...], classes: int):
    def build():
        keras = _keras()
        inputs = _batch_one((features,))
        x = inputs
        for units in hidden:
            x = keras.layers.Dense(units, activation="relu")(x)
        return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))

    return build


# Sudharsan et al., "TinyML Benchmark: Executing Fully Connected Neural Networks on Commodity Microcontrollers"
# (IEEE WF-IoT 2021; github.com/bharathsudharsan/TinyML-Benchmark-NNs-on-MCUs, whose TFLite_trained_models/ hold the
# published .tflite files these rebuild layer for layer): three dense networks on four datasets.
for _dataset, (_features, _classes) in {"breast-cancer": (30, 2), "digits": (64, 10), "iris": (4, 3),
                                         "wine": (13, 3)}.items():  # fmt: skip
    for _arch, _hidden in {"1x10": (10,), "10x10": (10,) * 10, "10+50": (10, 50)}.items():
        MODELS[f"tinyml-bench-fc-{_arch}-{_dataset}"] = (
            f"Dense network FC {_arch} on {_dataset} ({_features} inputs, hidden {'-'.join(map(str, _hidden))}, "
            f"{_classes} classes, ReLU, softmax) from Sudharsan et al. 2021",
            (_features,),
            _fully_connected(_features, _hidden, _classes),
        )


if __name__ == "__main__":
    sys.exit(main())
