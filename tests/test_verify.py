"""Untrusted .tflite files: verified by the interpreter in a child with time and memory limits, and fuzzed.

Every mutated file must end in a result or one clean edgekd error, from `inspect` and from
loading for `bench`; a crash, hang or huge allocation in the native interpreter stays in
the child. EDGEKD_FUZZ_EXAMPLES sets the number of fuzz cases (default 300).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekd.errors import EdgekdError, ModelError
from edgekd.modelfile import verify
from edgekd.modelfile.verify import verify_model
from tests.conftest import assert_clean_failure, invoke

FUZZ_EXAMPLES = int(os.environ.get("EDGEKD_FUZZ_EXAMPLES", "300"))


@pytest.fixture(scope="module")
def valid(int8_model_file) -> bytes:
    return int8_model_file.read_bytes()


def test_a_sound_model_loads_and_runs_in_the_child(valid):
    assert verify_model(valid, "m", run_once=True).loaded


def test_a_damaged_model_is_refused_by_the_flatbuffer_verifier(valid, tmp_path):
    # The identifier is intact, so only verifying the buffer can tell.
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(valid[: len(valid) // 2])
    assert_clean_failure(invoke("inspect", str(truncated)), "truncated.tflite is not a usable TFLite model")
    zeroed = tmp_path / "zeroed.tflite"
    zeroed.write_bytes(valid[:64] + bytes(len(valid) - 64))
    assert_clean_failure(invoke("bench", str(zeroed), "--device", "host"), "zeroed.tflite")


def test_limits_turn_a_hang_an_allocation_and_a_crash_into_one_error(valid, monkeypatch):
    monkeypatch.setattr(verify, "_VERIFIED", {})  # verify afresh, not from this process's cache
    with pytest.raises(ModelError, match="did not finish loading it within 0 s"):
        verify_model(valid, "m", time_limit_s=0.001)
    # Where the limit bites (building or allocating) depends on what the imports already mapped.
    with pytest.raises(ModelError, match="40 MB"):
        verify_model(valid, "m", memory_mb=40)
    # A native crash cannot be produced on demand, so the child aborts itself as a crashing kernel would.
    monkeypatch.setattr(verify, "CHILD", "import os; os.abort()")
    with pytest.raises(ModelError, match=r"crashed \(SIGABRT\)"):
        verify_model(valid, "m")


def _repacked_with_huge_dimensions(data: bytes, tensor: int, size: int) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    tensors = model.subgraphs[0].tensors
    target = tensors[tensor % len(tensors)]
    target.shape = [size] * max(1, len(target.shape if target.shape is not None else []))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "huge", "overwrite"]))
    data = bytearray(valid)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 16))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(8, len(data) - 1))]
    elif kind == "splice":
        start = draw(st.integers(0, len(data) - 1))
        length = draw(st.integers(1, 256))
        source = draw(st.integers(0, len(data) - 1))
        data[start : start + length] = valid[source : source + length]
    elif kind == "overwrite":
        # A 32-bit field (an offset, a length, a shape) set to an extreme value.
        position = draw(st.integers(8, len(data) - 4)) & ~3
        value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, len(data)]))
        data[position : position + 4] = value.to_bytes(4, "little")
    else:
        size = draw(st.sampled_from([2**16, 2**24, 2**31 - 1]))
        return _repacked_with_huge_dimensions(valid, draw(st.integers(0, 64)), size)
    return bytes(data)


def test_fuzzed_models_end_in_a_result_or_a_clean_error(valid, tmp_path_factory):
    from edgekd.profiles.compatibility import check_device_can_run
    from edgekd.profiles.loader import get_profile

    folder = tmp_path_factory.mktemp("fuzz")
    host = get_profile("host")
    outcomes = {"inspected": 0, "refused": 0}

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def case(data):
        model = data.draw(mutated(valid))
        path = folder / "fuzzed.tflite"
        path.write_bytes(model)
        result = invoke("inspect", str(path), "--json")
        if result.exit_code == 0:
            outcomes["inspected"] += 1
            # What inspect accepted must also load for bench, or be refused cleanly.
            try:
                check_device_can_run(host, model, "fuzzed.tflite")
            except EdgekdError:
                pass
        else:
            outcomes["refused"] += 1
            assert_clean_failure(result)

    case()
    print(f"fuzz: {FUZZ_EXAMPLES} cases, {outcomes}")
    assert outcomes["refused"] > 0 and outcomes["inspected"] > 0, outcomes
