"""Datasets: the embedded MNIST-1D, npz files, image folders, and their validation."""

import random
import re

import numpy as np
import pytest

from edgekd.data.representative import representative_samples
from edgekd.data.spec import load_dataset, parse_spec
from edgekd.errors import DataError


def test_mnist1d_is_generated_offline_deterministically_and_leaves_global_rng_alone():
    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.random()
    random.seed(123)
    np.random.seed(123)
    first = load_dataset("mnist1d:samples=200,transfer=100,seed=3")
    assert (random.random(), np.random.random()) == (expected_py, expected_np)
    second = load_dataset("mnist1d:samples=200,transfer=100,seed=3")
    assert first.input_shape == (40, 1) and first.num_classes == 10
    assert len(first.x_train) == 160 and len(first.x_test) == 40 and len(first.x_unlabeled) == 100
    np.testing.assert_array_equal(first.x_train, second.x_train)
    # The transfer set is fresh data, not a copy of the labelled samples.
    assert not np.isin(first.x_unlabeled[:, 0, 0], first.x_train[:, 0, 0]).all()


def test_npz_with_transfer_set_loads(npz_factory):
    path = npz_factory(x_unlabeled=np.zeros((7, 12, 1), np.float32))
    dataset = load_dataset(f"npz:{path}")
    assert dataset.input_shape == (12, 1) and dataset.num_classes == 3 and len(dataset.x_unlabeled) == 7


def test_npz_two_dimensional_signals_gain_a_channel(npz_factory):
    rng = np.random.default_rng(1)
    path = npz_factory(x_train=rng.standard_normal((40, 12)), x_test=rng.standard_normal((10, 12)))
    assert load_dataset(f"npz:{path}").input_shape == (12, 1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, "lacks array(s) y_test"),
        ({"y_train": np.zeros(39, np.int64)}, "x_train has 40 samples but y_train has 39"),
        ({"y_train": np.full(40, -1)}, "outside 0..2"),
        ({"class_names": np.array(["a", "b"])}, "outside 0..1"),
        ({"x_train": np.full((40, 12, 1), np.nan, np.float32)}, "NaN or Inf"),
        ({"x_test": np.zeros((10, 13, 1), np.float32)}, "share one input shape"),
        ({"y_train": np.eye(3)[np.zeros(40, int)]}, "one-hot"),
        ({"x_train": np.zeros((0, 12, 1), np.float32), "y_train": np.zeros(0, np.int64)}, "empty"),
        ({"x_unlabeled": np.zeros((0, 12, 1), np.float32)}, "x_unlabeled is empty"),
    ],
)
def test_bad_npz_is_refused_with_the_reason(npz_factory, overrides, message):
    path = npz_factory(**overrides)
    with pytest.raises(DataError, match=re.escape(message)):
        load_dataset(f"npz:{path}")


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_text("not numpy")
    with pytest.raises(DataError, match="npz file .*broken.npz is unreadable .*numpy.savez"):
        load_dataset(f"npz:{path}")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty DATA spec"),
        ("csv:data.csv", "unknown DATA scheme 'csv'.*known: audio, images, mnist1d, npz"),
        ("npz", "needs a path"),
        ("npz:/does/not/exist.npz", "does not exist"),
        ("mnist1d:samples", "cannot parse option"),
        ("mnist1d:size=3", "unknown mnist1d option"),
        ("mnist1d:samples=ten", "not a whole number"),
        ("images:/does/not/exist", "does not exist"),
        ("images:/x,size=96", "`size` '96' is not WxH"),
        ("images:/x,teacher_size=0x3", "each side must be from 1"),
        ("images:/x,preprocess=mobilenet_v9", "unknown preprocess 'mobilenet_v9'; known keras.applications families"),
        ("images:/x,scale=unit,preprocess=resnet50", "give `scale` or `preprocess`, not both"),
        ("images:/x,color=gray,preprocess=resnet50", "is for RGB images"),
        ("images:/x,color=cmyk", "not a colour mode"),
        ("images:/x,sise=3x3", "unknown images option.*sise; known: color, preprocess"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_dataset(spec)


def test_options_come_from_the_spec_or_the_config_and_must_agree():
    assert parse_spec("images:photos,size=96x96", {"color": "gray"}).options == {"size": "96x96", "color": "gray"}
    assert parse_spec("images:photos", {"size": "8x8"}).argument == "photos"
    with pytest.raises(DataError, match=r"option size is '96x96' in the DATA spec but '8x8' in `data.options`"):
        parse_spec("images:photos,size=96x96", {"size": "8x8"})
    with pytest.raises(DataError, match="unknown npz option"):
        parse_spec("npz:data.npz,size=3x3")


def test_parse_spec_keeps_paths_with_colons():
    assert parse_spec("npz:C:/data/a.npz").argument == "C:/data/a.npz"


def test_image_folders_stream_from_disk_decoded_as_pil_reads_them(tmp_path):
    from PIL import Image

    from edgekd.data.samples import FileStream

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            pixels = (rng.random((8, 6)) * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / label / f"{i}.png")
    dataset = load_dataset(f"images:{tmp_path}")
    assert isinstance(dataset.x_train, FileStream) and dataset.input_shape == (8, 6, 1)
    assert dataset.class_names == ("cat", "dog")
    assert len(dataset.x_train) + len(dataset.x_test) == 10
    first = np.asarray(Image.open(dataset.x_train.paths[0]), np.float32) / 255
    np.testing.assert_allclose(dataset.x_train[0][..., 0], first, atol=1e-6)
    assert dataset.summary()["normalization"]["std"] == 255.0 and dataset.summary()["color"] == "gray"


def test_hidden_files_are_not_samples_and_a_class_of_them_alone_is_refused(tmp_path):
    # macOS writes `._0.png` (AppleDouble metadata, not a PNG) beside every file it copies to a FAT or
    # network drive: such a copy of a dataset was refused as an undecodable image.
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(4):
            Image.fromarray((rng.random((8, 6)) * 255).astype(np.uint8), mode="L").save(tmp_path / label / f"{i}.png")
            (tmp_path / label / f"._{i}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    dataset = load_dataset(f"images:{tmp_path}")
    assert dataset.class_names == ("cat", "dog") and len(dataset.x_train) + len(dataset.x_test) == 8
    (tmp_path / "bird").mkdir()
    (tmp_path / "bird" / "._0.png").write_bytes(b"\x00\x05\x16\x07")
    with pytest.raises(DataError, match=r"class folder .*bird is empty"):
        load_dataset(f"images:{tmp_path}")


def test_image_options_set_size_colour_and_scaling(tmp_path):
    from tests.media import write_image_folder

    root = write_image_folder(tmp_path / "set", classes=2, per_class=6, size=10)
    unit = load_dataset(f"images:{root}")
    assert unit.input_shape == (10, 10, 3)
    raw = load_dataset(f"images:{root},scale=raw")
    symmetric = load_dataset(f"images:{root}", options={"scale": "symmetric"})
    np.testing.assert_allclose(raw.x_train[:4] / 255, unit.x_train[:4], atol=1e-5)
    np.testing.assert_allclose(raw.x_train[:4] / 127.5 - 1, symmetric.x_train[:4], atol=1e-5)
    small = load_dataset(f"images:{root},size=6x4,color=gray")
    assert small.input_shape == (4, 6, 1) and small.x_train[:3].shape == (3, 4, 6, 1)
    assert small.summary()["image_size"] == [6, 4]


@pytest.mark.parametrize("family", sorted(__import__("edgekd.data.scaling").data.scaling.FAMILY_MODES))
def test_every_preprocess_family_matches_keras_applications(family):
    import keras

    from edgekd.data.scaling import preprocess_named

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    expected = np.asarray(getattr(keras.applications, family).preprocess_input(pixels.copy()))
    np.testing.assert_allclose(np.asarray(preprocess_named(family).apply(pixels)), expected, rtol=1e-5, atol=1e-4)


def test_the_teacher_sees_the_same_images_at_its_own_size_and_preprocessing(tmp_path):
    from tests.media import write_image_folder

    root = write_image_folder(tmp_path / "set", classes=2, per_class=6, size=16)
    dataset = load_dataset(f"images:{root},size=8x8,teacher_size=16x16,teacher_preprocess=mobilenet_v2")
    teacher = dataset.for_teacher()
    assert dataset.input_shape == (8, 8, 3) and teacher.input_shape == (16, 16, 3)
    np.testing.assert_array_equal(teacher.y_train, dataset.y_train)
    assert list(teacher.x_train.paths) == list(dataset.x_train.paths)
    unit = load_dataset(f"images:{root}")
    np.testing.assert_allclose(teacher.x_train[:3], unit.x_train[:3] * 2 - 1, atol=1e-5)
    view = dataset.summary()["teacher_view"]
    assert view["image_size"] == [16, 16] and "mobilenet_v2" in view["normalization"]["note"]
    assert unit.for_teacher() is unit


def test_a_truncated_image_is_named_when_loaded_or_if_damaged_later_when_read(tmp_path):
    from tests.media import write_image_folder

    root = write_image_folder(tmp_path / "set", classes=2, per_class=4, size=16, split=True)
    victim = sorted((root / "train" / "square").iterdir())[2]
    original = victim.read_bytes()
    victim.write_bytes(original[:60])
    with pytest.raises(DataError, match=f"cannot read image {re.escape(str(victim))}: Truncated"):
        load_dataset(f"images:{root}")
    victim.write_bytes(original)
    dataset = load_dataset(f"images:{root}")
    victim.write_bytes(original[:60])  # damaged after loading: found when read
    with pytest.raises(DataError, match=f"cannot read image {re.escape(str(victim))}: .*remove or replace it"):
        dataset.x_train[:]


def test_unreadable_image_is_named(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(2):
            (tmp_path / label / f"{i}.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read image"):
        load_dataset(f"images:{tmp_path}")


def test_representative_samples_come_from_training_data_and_refuse_bad_input():
    x = np.arange(50, dtype=np.float32).reshape(10, 5, 1)
    chosen = representative_samples(x, 4, seed=1)
    assert chosen.shape == (4, 5, 1)
    assert all(any(np.array_equal(c, row) for row in x) for c in chosen)
    with pytest.raises(DataError, match="empty"):
        representative_samples(x[:0], 4)
    with pytest.raises(DataError, match="NaN"):
        representative_samples(np.full((3, 2), np.inf, np.float32), 2)


def test_an_npz_header_that_declares_more_than_the_file_holds_is_refused_before_numpy_allocates(npz_factory):
    from tests.test_bad_inputs import npz_declaring_a_huge_array

    rng = np.random.default_rng(0)
    arrays = {"y_train": rng.integers(0, 3, 40), "x_test": np.zeros((10, 12, 1)), "y_test": np.arange(10) % 3}
    path = npz_declaring_a_huge_array(npz_factory("base.npz"), arrays)
    with pytest.raises(DataError, match=r"x_train declares a 14x1099511627776 uint8 array \(14\.0 TiB\)"):
        load_dataset(f"npz:{path}")


def test_an_npz_larger_than_memory_is_memory_mapped_or_if_compressed_refused(npz_factory, monkeypatch, tmp_path):
    import edgekd.inputs
    from edgekd.data.samples import ArrayStream

    rng = np.random.default_rng(0)
    signals = rng.standard_normal((40, 12))
    path = npz_factory(x_train=signals, x_unlabeled=rng.standard_normal((7, 12)).astype(np.float32))
    in_memory = load_dataset(f"npz:{path}")
    monkeypatch.setattr(edgekd.inputs, "memory_limit_bytes", lambda: 1024)
    mapped = load_dataset(f"npz:{path}")
    assert isinstance(mapped.x_train, ArrayStream) and isinstance(mapped.x_unlabeled, ArrayStream)
    assert mapped.input_shape == in_memory.input_shape == (12, 1) and mapped.summary()["storage"].startswith("memory")
    np.testing.assert_array_equal(mapped.x_train[[5, 1, 30]], in_memory.x_train[[5, 1, 30]])
    np.testing.assert_array_equal(mapped.x_test[:], in_memory.x_test)
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, **{k: np.asarray(v) for k, v in np.load(path).items()})
    with pytest.raises(DataError, match=r"x_\w+ is compressed .* more than|x_\w+ is compressed and the archive"):
        load_dataset(f"npz:{compressed}")


def test_a_folder_of_npy_files_is_memory_mapped_and_checked(tmp_path):
    from edgekd.data.samples import ArrayStream

    rng = np.random.default_rng(0)
    folder = tmp_path / "arrays"
    folder.mkdir()
    x_train = rng.standard_normal((40, 6, 1)).astype(np.float32)
    for name, array in {
        "x_train": x_train,
        "y_train": rng.integers(0, 3, 40),
        "x_test": rng.standard_normal((10, 6, 1)).astype(np.float32),
        "y_test": np.arange(10) % 3,
    }.items():
        np.save(folder / f"{name}.npy", array)
    dataset = load_dataset(f"npz:{folder}")
    assert isinstance(dataset.x_train, ArrayStream)
    np.testing.assert_array_equal(dataset.x_train[:], x_train)
    x_train[17, 2, 0] = np.nan
    np.save(folder / "x_train.npy", x_train)
    with pytest.raises(DataError, match=r"x_train contains NaN or Inf \(first at sample 17\)"):
        load_dataset(f"npz:{folder}")
    (folder / "x_train.npy").write_bytes((folder / "x_train.npy").read_bytes()[:500])
    with pytest.raises(DataError, match=r"array file .*x_train\.npy is unreadable"):
        load_dataset(f"npz:{folder}")


def test_npz_members_that_are_not_arrays_are_ignored(npz_factory):
    import zipfile

    path = npz_factory()
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("x_train", b"raw bytes, not an array")
        archive.writestr("README.txt", b"notes")
    assert load_dataset(f"npz:{path}").input_shape == (12, 1)


def test_a_stray_label_that_would_make_absurdly_many_classes_is_refused(npz_factory):
    from edgekd.data.dataset import MAX_CLASSES

    labels = np.r_[np.arange(39) % 3, MAX_CLASSES]
    with pytest.raises(
        DataError, match=f"{MAX_CLASSES + 1:,} classes \\(the largest training label is {MAX_CLASSES}\\)"
    ):
        load_dataset(f"npz:{npz_factory(y_train=labels)}")


def test_a_single_class_present_is_refused_even_if_the_labels_say_more(npz_factory):
    path = npz_factory(y_train=np.full(40, 2), y_test=np.full(10, 2))
    with pytest.raises(DataError, match="every training label is class 2; too few classes"):
        load_dataset(f"npz:{path}")
    named = npz_factory(
        "named.npz", y_train=np.zeros(40, int), y_test=np.zeros(10, int), class_names=np.array(["cat", "dog"])
    )
    with pytest.raises(DataError, match="every training label is class 0 \\('cat'\\)"):
        load_dataset(f"npz:{named}")


def test_classes_without_training_samples_are_warned_about_and_recorded(npz_factory):
    import io

    from edgekd.progress import Reporter

    labels = np.r_[np.arange(39) % 3, 9]  # classes 3..8 have no samples
    stream = io.StringIO()
    dataset = load_dataset(f"npz:{npz_factory(y_train=labels)}", Reporter(stream=stream))
    assert dataset.num_classes == 10
    expected = "6 of 10 classes have no training samples (class 3, 4, 5, 6, 7 and 1 more)"
    assert expected in stream.getvalue() and stream.getvalue().startswith("edgekd: warning: ")
    assert expected in dataset.summary()["warnings"][0]
    assert load_dataset(f"npz:{npz_factory('full.npz')}").summary()["warnings"] == []


def _two_classes(root, extra=None):
    from tests.test_bad_inputs import image_folder

    return image_folder(root, extra or {})


@pytest.mark.timeout(120)
def test_image_folders_refuse_a_pipe_and_a_decompression_bomb_naming_the_file(tmp_path):
    from tests.test_bad_inputs import png_header_only

    with pytest.raises(DataError, match=r"image .*b/x\.png is a named pipe"):
        load_dataset(f"images:{_two_classes(tmp_path / 'pipe', {'x.png': None})}")
    # Past PIL's limit it raises; between the limit and twice it, PIL only warns: both are refused.
    for name, size in (("huge.png", 20000), ("large.png", 10000)):
        folder = _two_classes(tmp_path / name, {name: png_header_only(size, size)})
        with pytest.raises(DataError, match=f"image .*{name} is too large to decode safely.*decompression bomb"):
            load_dataset(f"images:{folder}")


def test_mnist1d_larger_than_memory_allows_is_refused_before_generating():
    with pytest.raises(DataError, match=r"samples=100,000,000,000 and transfer=0 need 14\.6 TiB"):
        load_dataset("mnist1d:samples=100000000000,transfer=0")


def test_a_validation_split_the_user_gives_is_the_one_every_stage_uses(npz_factory, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    x_val = rng.standard_normal((6, 12, 1)).astype(np.float32)
    dataset = load_dataset(f"npz:{npz_factory('val.npz', x_val=x_val, y_val=np.array([0, 1, 2, 0, 1, 2]))}")
    x_fit, y_fit, got_x, got_y = dataset.validation_split(seed=3)
    # The whole training split trains; the given samples validate, as given.
    assert len(x_fit) == len(dataset.x_train) == 40 and np.array_equal(y_fit, dataset.y_train)
    np.testing.assert_array_equal(got_x, x_val)
    np.testing.assert_array_equal(got_y, [0, 1, 2, 0, 1, 2])
    assert dataset.summary()["validation"] == "given" and dataset.summary()["val_samples"] == 6
    with pytest.raises(DataError, match="has x_val but not y_val"):
        load_dataset(f"npz:{npz_factory('half.npz', x_val=x_val)}")
    # A folder's DIR/val: one sub-folder per class (a class may be missing), labelled by the training classes.
    for split, classes in (("train", ("a", "b", "c")), ("test", ("a", "b", "c")), ("val", ("b", "c"))):
        for label in classes:
            (tmp_path / "set" / split / label).mkdir(parents=True)
            for i in range(3):
                pixels = (rng.random((6, 6)) * 255).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(tmp_path / "set" / split / label / f"{i}.png")
    images = load_dataset(f"images:{tmp_path / 'set'}")
    assert images.class_names == ("a", "b", "c") and list(images.y_val) == [1, 1, 1, 2, 2, 2]
    assert len(images.validation_split(0)[0]) == 9
    assert all("/val/" in path for path in images.x_val.paths)


def test_a_given_validation_split_is_part_of_the_datas_fingerprint():
    """A search's study and a reused student depend on the validation split: another one is other data."""
    import numpy as np

    from edgekd.data.dataset import Dataset

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), np.arange(40) % 2

    def dataset(**val):
        return Dataset("d", x[:20], y[:20], x[20:30], y[20:30], 2, **val)

    plain = dataset()
    assert plain.fingerprint() == dataset().fingerprint()
    with_val = dataset(x_val=x[30:], y_val=y[30:])
    assert with_val.fingerprint() != plain.fingerprint()
    assert dataset(x_val=x[30:], y_val=1 - y[30:]).fingerprint() != with_val.fingerprint(), "its labels count"
    assert dataset(x_val=x[30:] + 1, y_val=y[30:]).fingerprint() != with_val.fingerprint(), "its inputs count"
