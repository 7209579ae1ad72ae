"""`edgekd export --format c`: the generated C compiles with the machine's gcc and holds the .tflite byte for byte."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import assert_clean_failure, invoke

CHECK = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "student_int8.h"

int main(int argc, char **argv) {
    FILE *file = fopen(argv[1], "rb");
    if (!file) return 2;
    unsigned char *bytes = malloc(STUDENT_INT8_SIZE + 1);
    size_t read = fread(bytes, 1, STUDENT_INT8_SIZE + 1, file);
    fclose(file);
    if (read != STUDENT_INT8_SIZE || student_int8_len != STUDENT_INT8_SIZE) return 3;
    for (size_t i = 0; i < read; i++) if (bytes[i] != student_int8[i]) return 4;
    if (((uintptr_t)student_int8) % STUDENT_INT8_ALIGNMENT != 0) return 5;
    if (STUDENT_INT8_INPUT_0_DIM_1 != 40 || STUDENT_INT8_OUTPUT_0_DIM_1 != 10) return 6;
    printf("ok %u\n", student_int8_len);
    return 0;
}
"""


@pytest.fixture
def exported(int8_model_file, tmp_path):
    model = tmp_path / "student_int8.tflite"
    model.write_bytes(int8_model_file.read_bytes())
    result = invoke("export", str(model), "--format", "c", "--out", str(tmp_path / "c"), "--json")
    assert result.exit_code == 0, result.stderr
    return model, tmp_path / "c", json.loads(result.stdout)


def test_the_c_array_compiles_and_equals_the_tflite(exported, tmp_path):
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (build-essential)"
    model, folder, _ = exported
    (folder / "check.c").write_text(CHECK)
    binary = tmp_path / "check"
    build = subprocess.run(
        [
            gcc,
            "-std=c11",
            "-Wall",
            "-Werror",
            "-o",
            str(binary),
            str(folder / "check.c"),
            str(folder / "student_int8.c"),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    # The array is the exported .tflite: the model with its metadata inside.
    shipped = folder / "student_int8.tflite"
    run = subprocess.run([str(binary), str(shipped)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == f"ok {shipped.stat().st_size}\n", (run.returncode, run.stdout)
    # A byte changed in the .tflite is caught: the check compares every byte.
    corrupted = tmp_path / "corrupted.tflite"
    data = bytearray(shipped.read_bytes())
    data[100] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    assert subprocess.run([str(binary), str(corrupted)], capture_output=True).returncode == 4


def test_metadata_and_the_measured_arena(exported):
    model, folder, metadata = exported
    assert metadata["size_bytes"] == (folder / "student_int8.tflite").stat().st_size > model.stat().st_size
    assert metadata["c_identifier"] == "student_int8"
    assert metadata["inputs"][0]["shape"] == [1, 40, 1] and metadata["inputs"][0]["quantization"]["scale"]
    arena = metadata["arena"]
    assert arena["source"] == "measured" and "TensorFlow Lite Micro" in arena["method"]
    recorded = arena["recorded"]
    assert arena["bytes"] >= recorded["total"] == recorded["head"] + recorded["tail"]
    assert sum(recorded["parts"].values()) <= recorded["tail"]
    header = (folder / "student_int8.h").read_text()
    assert (
        f"#define STUDENT_INT8_ARENA_SIZE {arena['bytes']}" in header
        and "#define STUDENT_INT8_ARENA_MEASURED 1" in header
    )
    assert "#define STUDENT_INT8_INPUT_0_ZERO_POINT" in header
    assert json.loads((folder / "student_int8.json").read_text()) == metadata


def test_the_activation_estimate_by_hand(int8_model_file):
    from edgekd.export.arena import estimate_arena
    from edgekd.modelfile.inspect import inspect_tflite

    # The conv student's activations by hand (int8, one byte each): input 40, reshaped 40, conv1
    # 20 x 8 = 160, conv2 10 x 16 = 160, flattened 160, logits 10. The largest pair alive at
    # once is conv2 -> flatten (or conv1 -> conv2): 160 + 160 = 320 bytes.
    assert estimate_arena(inspect_tflite(int8_model_file.read_bytes(), "m")).bytes == 320


def test_an_invalid_identifier_is_sanitized_and_said(int8_model_file, tmp_path):
    result = invoke("export", str(int8_model_file), "--out", str(tmp_path / "c"), "--name", "2nd-model v1")
    assert result.exit_code == 0, result.stderr
    assert "'2nd-model v1' is not a valid C identifier; using 'model_2nd_model_v1'" in result.stderr
    assert (tmp_path / "c" / "model_2nd_model_v1.c").exists()


def test_bad_exports_fail_cleanly_and_write_nothing(tmp_path):
    page = tmp_path / "model.tflite"
    page.write_text("<!DOCTYPE html><html>not a model</html>")
    assert_clean_failure(invoke("export", str(page), "--out", str(tmp_path / "a")), "HTML")
    assert_clean_failure(
        invoke("export", str(tmp_path / "missing.tflite"), "--out", str(tmp_path / "b")), "does not exist"
    )
    assert_clean_failure(
        invoke("export", str(page), "--format", "rust", "--out", str(tmp_path / "c")), "unknown export format"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_fit_on_microcontroller_profiles(int8_model_file, tmp_path, monkeypatch):
    inspected = invoke("inspect", str(int8_model_file), "--device", "nano33ble", "--json")
    fit = json.loads(inspected.stdout)["fit"]
    assert fit["fits"] is True and fit["flash"]["available"] == 1024 * 1024 and fit["ram"]["available"] == 256 * 1024
    assert fit["ram"]["source"] == "measured" and fit["ram"]["needed"] > 320, "TFLM's own figure, not the estimate"
    # A board with 4 KB of flash: the 8 KB model is refused by export, reported by inspect.
    devices = tmp_path / "devices"
    devices.mkdir()
    from edgekd.profiles.loader import get_profile

    text = get_profile("nano33ble").path.read_text().replace("name: nano33ble", "name: tiny-mcu")
    (devices / "tiny-mcu.yaml").write_text(text.replace("flash_kb: 1024", "flash_kb: 4"))
    monkeypatch.setenv("EDGEKD_DEVICES", str(devices))
    refused = invoke("export", str(int8_model_file), "--out", str(tmp_path / "c"), "--device", "tiny-mcu")
    assert_clean_failure(refused, "does not fit tiny-mcu", "bytes of flash and tiny-mcu has 4,096")
    assert not (tmp_path / "c").exists()
    report = invoke("inspect", str(int8_model_file), "--device", "tiny-mcu")
    assert report.exit_code == 0 and "tiny-mcu: does NOT fit" in report.stdout


def test_float_models_and_benchmarks_are_refused_on_microcontrollers(pipeline_run, tmp_path):
    out, _ = pipeline_run
    refused = invoke(
        "export", str(out / "teacher_float32.tflite"), "--out", str(tmp_path / "c"), "--device", "esp32-s3"
    )
    assert_clean_failure(refused, "is a float32 model and device esp32-s3 runs only int8", "ESP-NN")
    bench = invoke("bench", str(out / "student_int8.tflite"), "--device", "stm32h7")
    assert_clean_failure(bench, "microcontroller flashed by its firmware toolchain", "edgekd export")


def test_metadata_travels_from_quantize_to_export_and_inspect(pipeline_run, tmp_path):
    from tests.conftest import TINY_DATA

    out, _ = pipeline_run
    model = tmp_path / "s.tflite"
    assert invoke("quantize", str(out / "student_kd.keras"), "--data", TINY_DATA, "--out", str(model)).exit_code == 0
    accuracy = json.loads((tmp_path / "s.results.json").read_text())["models"]["s"]["accuracy"]
    exported = invoke("export", str(model), "--out", str(tmp_path / "c"), "--json")
    metadata = json.loads(exported.stdout)
    assert metadata["accuracy"] == accuracy and "LiteRT" in metadata["accuracy_source"]
    assert metadata["data"] == "mnist1d" and metadata["input_layout"] == [[1, 40, 1]]
    assert metadata["labels"] == [str(i) for i in range(10)]
    (normalization,) = metadata["input_normalization"]
    assert normalization["quantization"]["scale"] > 0 and "not rescaled" in normalization["data"]["note"]
    shown = json.loads(invoke("inspect", str(model), "--json").stdout)["metadata"]
    assert shown["accuracy"] == {"value": accuracy, "source": "s.results.json"}
    # The exported file carries it inside: inspect reads it with nothing beside the file.
    alone = tmp_path / "alone.tflite"
    alone.write_bytes((tmp_path / "c" / "s.tflite").read_bytes())
    inside = json.loads(invoke("inspect", str(alone), "--json").stdout)["metadata"]
    assert inside["accuracy"]["value"] == accuracy and inside["accuracy"]["source"].startswith("inside the .tflite")
    assert inside["labels"]["value"] == [str(i) for i in range(10)]
    # Without any sidecar, inspect says nothing it does not know.
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(model.read_bytes())
    assert "metadata" not in json.loads(invoke("inspect", str(bare), "--json").stdout)


def test_embedded_metadata_changes_nothing_the_model_computes(int8_model_file):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from edgekd.export.embedded import buffer_alignments, embed_metadata, read_embedded_metadata

    source = int8_model_file.read_bytes()
    assert read_embedded_metadata(source) is None
    once = embed_metadata(source, {"labels": ["a", "b"], "accuracy": 0.5})
    twice = embed_metadata(once, {"labels": ["a", "b"], "accuracy": 0.75})
    assert read_embedded_metadata(twice) == {"labels": ["a", "b"], "accuracy": 0.75}, "an earlier entry is replaced"
    assert len(twice) == len(once)
    # Re-packed buffers sit on 16-byte boundaries (TFLite Micro reads int32 biases in place).
    assert all(offset % 16 == 0 for offset in buffer_alignments(twice))

    def outputs(model: bytes) -> np.ndarray:
        interpreter = Interpreter(model_content=model)
        interpreter.allocate_tensors()
        entry = interpreter.get_input_details()[0]
        batch = np.random.default_rng(0).integers(-128, 128, size=(16, *entry["shape"][1:])).astype(entry["dtype"])
        results = []
        for sample in batch:
            interpreter.set_tensor(entry["index"], sample[None])
            interpreter.invoke()
            results.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
        return np.stack(results)

    assert np.array_equal(outputs(source), outputs(twice))
    damaged = bytearray(twice)
    damaged[len(damaged) // 2 :] = bytes(len(damaged) - len(damaged) // 2)
    assert read_embedded_metadata(bytes(damaged)) is None


# Names a downloaded model may carry: live C after a closed comment, a preprocessor line, and
# terminal escape sequences (clear the screen, set the window title).
HOSTILE_NAMES = ("*/ int pwned_by_name = 1; /*", "*/\n#error injected\n/* \x1b[2J\x1b]0;pwned\x07 ??/")


@pytest.fixture
def hostile_model(int8_model_file, tmp_path):
    """The int8 model with its input and output tensors renamed in the flatbuffer."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(int8_model_file.read_bytes()))
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].name = HOSTILE_NAMES[0].encode()
    graph.tensors[graph.outputs[0]].name = HOSTILE_NAMES[1].encode()
    path = tmp_path / "hostile.tflite"
    path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    return path


def test_tensor_names_never_become_c_code(hostile_model, tmp_path):
    result = invoke("export", str(hostile_model), "--format", "c", "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.stderr
    header, source = tmp_path / "c" / "hostile.h", tmp_path / "c" / "hostile.c"
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (build-essential)"
    main = tmp_path / "main.c"
    main.write_text('#include "hostile.h"\nint main(void) { return hostile_len == HOSTILE_SIZE ? 0 : 1; }\n')
    build = subprocess.run(
        [
            gcc,
            "-std=c11",
            "-Wall",
            "-Werror",
            "-I",
            str(tmp_path / "c"),
            "-o",
            str(tmp_path / "m"),
            str(main),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    # The names are in the header, inside comments: with comments removed, nothing of them is left.
    code = subprocess.run(
        [gcc, "-std=c11", "-fpreprocessed", "-dD", "-E", "-P", str(header)], capture_output=True, text=True, check=True
    ).stdout
    assert "pwned" not in code and "injected" not in code and "\x1b" not in code
    assert "pwned_by_name" in header.read_text(), "the name is still there to read, inside a comment"
    assert subprocess.run([str(tmp_path / "m")]).returncode == 0


def test_inspect_shows_tensor_names_without_control_characters(hostile_model):
    table = invoke("inspect", str(hostile_model))
    assert table.exit_code == 0, table.stderr
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", table.stdout), (
        "no escape or control character reaches the terminal"
    )
    assert "#error injected" not in table.stdout.splitlines(), "a name stays on its own row"
    assert "\\x1b[2J" in table.stdout, "the escape is shown, not run"
    as_json = invoke("inspect", str(hostile_model), "--json")
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", as_json.stdout)
    document = json.loads(as_json.stdout)
    assert [document["inputs"][0]["name"], document["outputs"][0]["name"]] == list(HOSTILE_NAMES), (
        "JSON keeps them exact"
    )


def test_inspect_reads_past_metadata_of_the_wrong_shape(int8_model_file, tmp_path):
    from edgekd.export.embedded import embed_metadata

    model = tmp_path / "m.tflite"
    model.write_bytes(embed_metadata(int8_model_file.read_bytes(), ["a list, not an object"]))
    (tmp_path / "m.tflite.json").write_text("[1, 2]")
    (tmp_path / "m.results.json").write_text('{"schema_version": 1, "kind": "quantize", "models": [], "data": 5}')
    result = invoke("inspect", str(model), "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)["metadata"]
    assert shown == {"accuracy_source": {"value": "m.results.json is unreadable", "source": "m.results.json"}}
