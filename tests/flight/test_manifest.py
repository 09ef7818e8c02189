"""Manifests: strict, loud validation; every problem a ManifestError naming the key."""

import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import flight
from flight import ManifestError
from flight.storage import chunk_spans


@pytest.fixture(scope="module")
def good(mlp_dir):
    return yaml.safe_load((mlp_dir / "manifest.yaml").read_text())


def refuse(data, message):
    with pytest.raises(ManifestError) as info:
        flight.manifest_from_dict(data, source="manifest.yaml")
    assert str(info.value) == message


def test_good_manifest_round_trips(mlp_dir, tmp_path):
    manifest = flight.load_manifest(mlp_dir / "manifest.yaml")
    flight.dump_manifest(manifest, tmp_path / "m.yaml")
    assert flight.load_manifest(tmp_path / "m.yaml") == manifest
    assert manifest.inputs == (flight.IOSpec("obs", "float32", (1, 8)),)
    assert manifest.outputs == (flight.IOSpec("logits", "float32", (1, 4)),)
    assert [t.name for t in manifest.tensors] == ["w1", "b1", "w2", "b2"]


@pytest.mark.parametrize(
    "key",
    ["chunk_size", "tensors", "golden", "sequence", "inputs", "outputs", "model_sha256", "name", "version",
     "model_file", "session"],
)
def test_missing_top_level_key_is_named(good, key):
    data = copy.deepcopy(good)
    del data[key]
    refuse(data, f"manifest.yaml: missing key '{key}'")


@pytest.mark.parametrize("key", ["name", "dtype", "shape", "nbytes", "crc32c", "chunks", "live"])
def test_missing_tensor_key_is_named(good, key):
    data = copy.deepcopy(good)
    del data["tensors"][1][key]
    refuse(data, f"manifest.yaml.tensors[1]: missing key '{key}'")


@pytest.mark.parametrize("key", ["file", "count", "file_sha256", "outputs_sha256"])
def test_missing_golden_key_is_named(good, key):
    data = copy.deepcopy(good)
    del data["golden"][key]
    refuse(data, f"manifest.yaml.golden: missing key '{key}'")


def set_path(data, path, value):
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("sequence",), "one", "manifest.yaml.sequence: must be int, got str"),
        (("sequence",), True, "manifest.yaml.sequence: must be an integer, got True"),
        (("sequence",), -1, "manifest.yaml.sequence: must be >= 0, got -1"),
        (("chunk_size",), 1000, "manifest.yaml.chunk_size: must be a positive multiple of 64, got 1000"),
        (("chunk_size",), "64", "manifest.yaml.chunk_size: must be int, got str"),
        (("tensors",), {"w1": 1}, "manifest.yaml.tensors: must be list, got dict"),
        (("tensors", 0, "live"), "yes", "manifest.yaml.tensors[0].live: must be bool, got str"),
        (("tensors", 0, "dtype"), "float128", "manifest.yaml.tensors[0].dtype: unsupported dtype 'float128' "
         "(one of float16, float32, float64, int8, uint8, int32, int64, bool)"),
        (("tensors", 0, "shape"), [16, -8], "manifest.yaml.tensors[0].shape: must be a list of non-negative "
         "integers, got [16, -8]"),
        (("tensors", 0, "nbytes"), 4, "manifest.yaml.tensors[0].nbytes: 4 disagrees with shape and dtype (512)"),
        (("tensors", 0, "crc32c"), 12345, "manifest.yaml.tensors[0].crc32c: must be str, got int"),
        (("tensors", 0, "crc32c"), "0x1234", "manifest.yaml.tensors[0].crc32c: must be a CRC-32C as '0x' and 8 hex "
         "digits, got '0x1234'"),
        (("tensors", 0, "chunks"), [12345], "manifest.yaml.tensors[0].chunks[0]: must be a CRC-32C as '0x' and 8 "
         "hex digits, got 12345"),
        (("tensors", 0, "chunks"), ["0xzzzzzzzz"], "manifest.yaml.tensors[0].chunks[0]: not hexadecimal: '0xzzzzzzzz'"),
        (("tensors", 0, "chunks"), ["0x00000000", "0x00000000"], "manifest.yaml.tensors[0].chunks: expected 1 "
         "chunk CRCs, got 2"),
        (("tensors", 1, "name"), "w1", "manifest.yaml.tensors[1].name: duplicate tensor 'w1'"),
        (("inputs", 0, "shape"), "1x8", "manifest.yaml.inputs[0].shape: must be list, got str"),
        (("inputs", 0, "range"), [1.0, 0.0], "manifest.yaml.inputs[0].range: must be [low, high] finite with "
         "low <= high, got [1.0, 0.0]"),
        (("outputs", 0, "range"), [0.0, float("inf")], "manifest.yaml.outputs[0].range: must be [low, high] "
         "finite with low <= high, got [0.0, inf]"),
        (("outputs",), [], "manifest.yaml: a model needs at least one input and one output"),
        (("model_sha256",), "ABC", "manifest.yaml.model_sha256: must be 64 lowercase hex digits"),
        (("golden",), [], "manifest.yaml.golden: must be dict, got list"),
        (("golden", "count"), "4", "manifest.yaml.golden.count: must be int, got str"),
        (("session",), None, "manifest.yaml.session: must be dict, got NoneType"),
        (("world",), "os:system", "manifest.yaml.world: must be a registered world name, got 'os:system'"),
        (("format",), "seuguard-model/2", "manifest.yaml.format: expected 'seuguard-model/1', got "
         "'seuguard-model/2'"),
    ],
)
def test_wrong_value_is_refused_naming_the_key(good, path, value, message):
    refuse(set_path(copy.deepcopy(good), path, value), message)


def test_top_level_that_is_not_a_mapping_is_refused(good):
    refuse([good], "manifest.yaml: must be a mapping at top level")


def test_malformed_yaml_is_refused_with_its_line(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text("format: seuguard-model/1\nname: [unclosed\nversion: 1\n")
    with pytest.raises(ManifestError, match=r"^.*manifest\.yaml: not valid YAML at line \d+$"):
        flight.load_manifest(path)


def test_missing_manifest_is_refused(tmp_path):
    with pytest.raises(ManifestError) as info:
        flight.load_manifest(tmp_path / "manifest.yaml")
    assert str(info.value) == f"{tmp_path / 'manifest.yaml'}: missing"


def test_manifest_with_no_golden_vectors_is_refused(good):
    """Boot runs golden vector 0 for the liveness proof and the engine times it: a manifest with
    count 0 must be refused at load, not crash boot with IndexError."""
    data = copy.deepcopy(good)
    data["golden"]["count"] = 0
    with pytest.raises(ManifestError, match=r"golden\.count"):
        flight.manifest_from_dict(data, source="manifest.yaml")


def test_golden_file_must_be_a_plain_file_name(good):
    """model_file is refused unless it is a plain name in the folder; golden.file should be too."""
    data = copy.deepcopy(good)
    data["golden"]["file"] = "../../elsewhere/golden.npz"
    with pytest.raises(ManifestError, match=r"golden\.file"):
        flight.manifest_from_dict(data, source="manifest.yaml")


@settings(max_examples=200, deadline=None)
@given(nbytes=st.integers(0, 1 << 22), blocks=st.integers(1, 2048))
def test_chunk_spans_tile_a_tensor_in_order_without_gap_or_overlap(nbytes, blocks):
    """The one chunk rule: full chunk_size slices, the last one shorter, never spanning tensors."""
    size = 64 * blocks
    spans = chunk_spans(nbytes, size)
    assert len(spans) == max(1, -(-nbytes // size))
    assert [start for start, _ in spans] == [i * size for i in range(len(spans))]
    assert sum(length for _, length in spans) == nbytes
    assert all(length == size for _, length in spans[:-1]) and 0 <= spans[-1][1] <= size
