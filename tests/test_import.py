"""Bring your own model: bare QKeras files in, the fixed-point description and firmware out (or a clean refusal).

The models are :mod:`zoo` (shaped after hls4ml's ``test/pytest/test_qkeras.py``); ``test_zoo.py`` (slow) builds
every one of them for vu13p and runs ``l1ad sim`` on it.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import zoo

from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint import FixedPointModel
from l1ad.fixedpoint.source import ImportOptions, load_model_source


def _opts(o: dict) -> ImportOptions:  # the zoo's build options that say how to read the model
    return ImportOptions.from_cli(o.get("input_precision"), o.get("encoding"), o.get("shift"), o.get("score"))


@pytest.mark.parametrize("name", list(zoo.BUILT))
def test_zoo_emulator_equals_qkeras(name, tmp_path):
    """Every zoo model: the integer emulator (fast and generic paths) equals QKeras on 20k random input words,
    and the description survives its JSON form byte for byte."""
    build, opts = zoo.BUILT[name]
    model = build()
    fp = load_model_source(model, _opts(opts)).fp
    words = fp.random_words(20_000, seed=1)
    raw = fp.predict(words)
    assert fp.fast_path is not None  # every zoo model runs on the exact float fast path
    assert np.array_equal(raw, fp.predict_generic(words))
    ref = fp.keras_scores(model, words)
    assert np.array_equal(raw, ref), f"{np.count_nonzero(raw != ref)} mismatches"
    assert len(np.unique(raw)) > 5  # the model does something
    # the da4ml trace (the Verilog's function), run by da4ml's reference executor on a sample of the words
    from l1ad.firmware.rtl import CHUNK, trace_model

    comb, n_chunks = trace_model(fp)
    sample = words[:150]
    chunks = np.rint(np.array([comb(w) for w in sample.astype(np.float64)], np.float64)).astype(np.int64)
    traced = sum(chunks[:, c].astype(object) << (CHUNK * c) for c in range(n_chunks))
    assert np.array_equal(np.asarray(traced, np.int64), raw[:150])
    fp.save(tmp_path / "a.json")
    again = FixedPointModel.load(tmp_path / "a.json")
    again.save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert np.array_equal(again.predict(words[:2000]), raw[:2000])


@pytest.mark.parametrize("name", list(zoo.REFUSED))
def test_zoo_refusals_one_line_exit_2_nothing_written(name, cli, tmp_path):
    """Unsupported layers (float Dense, LSTM, tanh/sigmoid quantizers, custom layers, alpha='auto', binary,
    an average of 3): `l1ad build` and `l1ad import` exit 2 with one line naming the layer and why."""
    build, words = zoo.REFUSED[name]
    path = tmp_path / f"{name}.h5"
    build().save(path)
    for args in (["build", "--board", "vu13p", "--model", path, "--out", tmp_path / "fw", "--hls-dir", tmp_path / "hls"],
                 ["import", path, "--out", tmp_path / "art"]):
        code, _, err = cli(*args)
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert code == 2 and len(lines) == 1, err
        assert all(w in lines[0] for w in words), lines[0]
        assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written


def test_import_writes_an_artifact_that_builds_the_same_description(cli, tmp_path):
    """`l1ad import` -> artifact (model.json with provenance); from_artifact gives the same description as the
    bare file; an unknown key in model.json is refused naming it (exit 2)."""
    path = tmp_path / "enc.h5"
    zoo.gt_encoder("enc").save(path)
    code, out, err = cli("import", path, "--out", tmp_path / "art", "--encoding", "gt", "--shift", "3")
    assert code == 0, err
    meta = json.loads((tmp_path / "art" / "model.json").read_text())
    assert meta["kind"] == "imported" and meta["source"]["format"] == "h5" and len(meta["source"]["sha256"]) == 64
    assert meta["source"]["options"] == {"encoding": "gt", "shift": [3]} and len(meta["input"]["fields"]) == 57
    bare = load_model_source(path, ImportOptions(encoding="gt", shift=(3,))).fp
    art = FixedPointModel.from_artifact(tmp_path / "art")
    assert json.dumps(art.description.to_json()) == json.dumps(bare.description.to_json())
    # options belong to bare files only
    code, _, err = cli("build", "--board", "vu13p", "--model", tmp_path / "art", "--score", "identity",
                       "--out", tmp_path / "fw")
    assert code == 2 and "--score" in err and not (tmp_path / "fw").exists()
    # the schema: unknown keys are errors naming the field
    meta["quantizer"] = {"bits": 8}
    (tmp_path / "art" / "model.json").write_text(json.dumps(meta))
    code, _, err = cli("build", "--board", "vu13p", "--model", tmp_path / "art", "--out", tmp_path / "fw")
    assert code == 2 and "model.json" in err and "'quantizer'" in err and "unknown key" in err


@pytest.mark.parametrize("args,needle", [
    (["--input-precision", "ap_fixed<16"], "--input-precision"),
    (["--encoding", "gtx"], "--encoding"),
    (["--shift", "2"], "--shift"),
    (["--encoding", "gt", "--shift", "a,b"], "--shift"),
    (["--score", "mean"], "--score"),
    (["--encoding", "gt"], "57"),  # the model takes 10 inputs
    (["--score", "identity"], "one network output"),  # it has 3 outputs
    (["--score", "squared_error"], "differs from the input size"),  # 3 outputs, 10 inputs
])
def test_bad_import_options(cli, tmp_path, args, needle):
    path = tmp_path / "m.h5"
    zoo.dense_quantizer_strings("m").save(path)
    code, _, err = cli("import", path, "--out", tmp_path / "art", *args)
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "art").exists()


def test_input_words_follow_the_rules():
    """Input words: the input quantizer's codes; --input-precision; hls4ml's ap_fixed<16,6> without either;
    the 57 GT words with --encoding gt."""
    with_q = zoo.dense_alpha1()
    fp = FixedPointModel.from_keras(with_q)
    assert {(f.width, f.signed) for f in fp.inputs} == {(4, True)} and set(fp.shift) == {3}
    fp = FixedPointModel.from_keras(with_q, input_precision="ap_ufixed<6,2>")
    assert {(f.width, f.signed) for f in fp.inputs} == {(6, False)} and set(fp.shift) == {4}
    fp = FixedPointModel.from_keras(zoo.dense_quantizer_strings())
    assert {(f.width, f.signed) for f in fp.inputs} == {(16, True)} and set(fp.shift) == {10}
    fp = FixedPointModel.from_keras(zoo.gt_encoder(), encoding="gt", shift=[2] * 57)
    assert fp.inputs[0].name == "met_pT" and fp.n_inputs == 57 and set(fp.shift) == {2}
    assert fp.score.type == "sum_squares"
    assert FixedPointModel.from_keras(zoo.conv2d_calo()).score.type == "identity"  # one output


def test_float32_accumulation_that_could_round_is_refused():
    """QKeras adds in float32: a layer whose partial sums can need more than 24 bits is refused (QKeras itself
    would round), naming the layer; the same net with narrower inputs builds."""
    from l1ad import _compat

    keras, qk = _compat.keras(), _compat.qkeras()
    m = keras.Sequential([qk.QDense(4, input_shape=(64,), kernel_quantizer=qk.quantized_bits(12, 0, alpha=1),
                                    bias_quantizer=qk.quantized_bits(8, 0, alpha=1), name="wide")])
    with pytest.raises(UnsupportedLayerError, match=r"'wide'.*float32"):
        FixedPointModel.from_keras(m)  # ap_fixed<16,6> inputs x 12-bit weights x 64
    assert FixedPointModel.from_keras(m, input_precision="ap_fixed<8,4>").n_inputs == 64


def test_batchnorm_fold_is_proven_and_a_coarser_fold_is_caught(monkeypatch):
    """BatchNormalization becomes a per-channel fixed-point scale only when it reproduces TensorFlow's float32
    on every reachable input (up to the next quantizer). One bit less and the proof fails: refused, and that
    coarser scale really does differ from QKeras on some input."""
    import dataclasses

    from l1ad.fixedpoint.layers import batchnorm

    model = zoo.dense_batchnorm()
    fp = FixedPointModel.from_keras(model)
    bn = next(n for n in fp.layers if n.kind == "batchnorm")
    assert any("BatchNormalization 'bn0'" in s and "QDenseBatchnorm" in s for s in fp.notes)
    k = bn.scale_frac
    monkeypatch.setattr(batchnorm, "MAX_SCALE_FRAC", k - 1)
    with pytest.raises(UnsupportedLayerError, match=r"'bn0'.*float32"):
        FixedPointModel.from_keras(model)
    # the coarser fold, forced into the description, is a different function: QKeras disagrees
    coarse = dataclasses.replace(bn, scale=np.rint(np.ldexp(bn.scale, -1)).astype(np.int64), scale_frac=k - 1,
                                 shift=np.rint(np.ldexp(bn.shift, -1)).astype(np.int64), shift_frac=bn.shift_frac - 1)
    layers = tuple(coarse if n is bn else n for n in fp.layers)
    wrong = FixedPointModel(fp.name, fp.input_shape, fp.inputs, fp.offset, fp.shift, layers, fp.score)
    words = fp.random_words(200_000, seed=3)
    assert np.array_equal(fp.predict(words), fp.keras_scores(model, words))
    assert np.count_nonzero(wrong.predict_generic(words) != fp.keras_scores(model, words)) > 0


@pytest.mark.parametrize("name", ["dense_auto_po2", "conv1d_maxpool", "conv1d_same_avgpool", "conv2d_calo",
                                  "dense_batchnorm"])
def test_hls4ml_csim_equals_emulator(name, tmp_path):
    """The hls4ml project l1ad writes (every type from the description: po2 alpha layers of dense and conv
    kernels, pooling accumulators, batch-norm scale/bias, an implicit Sequential input) C-simulates bit for bit
    like the emulator."""
    from l1ad.firmware.hls import build_hls

    build, opts = zoo.BUILT[name]
    model = build()
    fp = load_model_source(model, _opts(opts)).fp
    words = fp.random_words(10_000, seed=2)
    res = build_hls(fp, model, words, tmp_path / name, "xcvu13p-flga2577-2-e", 4.1667, name)
    assert np.array_equal(res.scores, fp.predict(words))


@pytest.mark.parametrize("fault,name", [("pool_accum", "conv1d_same_avgpool"), ("po2_alpha", "dense_auto_po2")])
def test_hls4ml_types_left_to_hls4ml_are_caught(fault, name, tmp_path, monkeypatch):
    """Fault injection: leave the pooling accumulators (hls4ml averages/compares in its default ap_fixed<16,6>) or
    the types around an alpha='auto_po2' kernel (unscaled accumulator, ``<name>_alpha`` result) to hls4ml, and its
    C simulation disagrees with the emulator."""
    from l1ad.firmware.hls import build_hls
    from l1ad.fixedpoint.layers import dense
    from l1ad.fixedpoint.layers.base import Node
    from l1ad.fixedpoint.layers.pooling import Pool

    if fault == "pool_accum":
        monkeypatch.setattr(Pool, "hls", Node.hls)
    else:
        monkeypatch.setattr(dense, "_po2_scales", lambda *a: None)
    model = zoo.BUILT[name][0]()
    fp = load_model_source(model).fp
    words = fp.random_words(5_000, seed=2)
    res = build_hls(fp, model, words, tmp_path / "p", "xcvu13p-flga2577-2-e", 4.1667, "p")
    assert np.count_nonzero(res.scores != fp.predict(words)) > 0


def test_bare_h5_never_seen_builds_and_passes_sim(cli, tmp_path):
    """Acceptance: a bare .h5 of a QKeras model l1ad never saw (no input quantizer, quantizer strings) builds for
    vu13p from the file alone - QKeras = emulator = hls4ml C-sim = Verilator on 10k events - and `l1ad sim`
    passes on the design."""
    path = tmp_path / "their_model.h5"
    zoo.dense_quantizer_strings("their_model").save(path)
    code, out, err = cli("build", "--board", "vu13p", "--model", path, "--out", tmp_path / "fw",
                         "--hls-dir", tmp_path / "hls", "--events", "10000")
    assert code == 0, err
    d = tmp_path / "fw" / "their_model-vu13p"
    rep = json.loads((d / "report.json").read_text())
    assert {p["b"] for p in rep["bitexact"]} >= {"emulator", "hls4ml_csim", "verilator"}
    assert all(p["mismatches"] == 0 and p["events"] == 10_000 for p in rep["bitexact"])
    assert rep["source"]["kind"] == "h5" and "ap_fixed<16,6>" in rep["source"]["inputs"]
    assert not (tmp_path / "model.json").exists() and not list(tmp_path.glob("**/model.json"))
    code, out, err = cli("sim", d, "--events", "3000")
    assert code == 0, err
    assert re.search(r"PASS: (\d+)/\1 tests passed", out + err)


def test_rates_on_an_imported_model(cli, tmp_path):
    """`l1ad rates --model` on an `l1ad import`ed artifact: thresholds are the bit-exact integer scores."""
    from test_rates import make_events, write_adc

    path = tmp_path / "enc.h5"
    zoo.gt_encoder("enc").save(path)
    assert cli("import", path, "--out", tmp_path / "art", "--encoding", "gt", "--shift", "3")[0] == 0
    zb = write_adc(tmp_path / "zb.h5", make_events(20_000, seed=5))
    code, out, err = cli("rates", "--model", tmp_path / "art", "--zero-bias", zb, "--menu", "none",
                         "--targets", "50,500", "--out", tmp_path / "rates")
    assert code == 0, err
    rates = json.loads((tmp_path / "rates" / "rates.json").read_text())
    from l1ad.data.encoding import load_encoding, read_words

    scores = FixedPointModel.from_artifact(tmp_path / "art").predict(read_words(zb, 0, None, load_encoding()))
    for row in rates["thresholds"]:
        assert row["n_pass"] == int(np.count_nonzero(scores > row["threshold"]))


def _quantizers() -> list[tuple[str, int, int]]:
    out = [("relu", b, i) for b in (4, 6) for i in range(b + 3)]  # integer 0 .. bits + 2
    out += [("bits", b, i) for b in (4, 8) for i in range(b)]  # signed, integer 0 .. bits - 1
    return out


@pytest.mark.parametrize("kind,bits,integer", _quantizers())
def test_every_quantizer_integer_exhaustively(kind, bits, integer):
    """hls4ml's test_quantizer, exhaustively: one QActivation on every one of the 65,536 ap_fixed<16,6> input
    words; quantized_relu(bits, integer) for every integer from 0 to bits + 2 and quantized_bits(bits, integer)."""
    from l1ad import _compat

    keras, qk = _compat.keras(), _compat.qkeras()
    q = qk.quantized_relu(bits, integer) if kind == "relu" else qk.quantized_bits(bits, integer)
    model = keras.Sequential([keras.layers.InputLayer((1,), name="x"), qk.QActivation(q, name="q")])
    fp = FixedPointModel.from_keras(model, input_precision="ap_fixed<16,6>")
    words = np.arange(-(2**15), 2**15, dtype=np.int64)[:, None]
    assert np.array_equal(fp.predict(words), fp.keras_scores(model, words))
    assert fp.layers[0].output.frac == bits - integer - (kind == "bits")


def test_savedmodel_directory_imports_like_h5(cli, tmp_path):
    """A SavedModel directory is a bare model too: same description as the .h5 of the same network."""
    model = zoo.conv2d_calo("calo")
    model.save(tmp_path / "calo.h5")
    model.save(tmp_path / "calo_saved", save_format="tf")
    code, _, err = cli("import", tmp_path / "calo_saved", "--out", tmp_path / "art")
    assert code == 0, err
    meta = json.loads((tmp_path / "art" / "model.json").read_text())
    assert meta["source"]["format"] == "savedmodel"
    a = FixedPointModel.from_artifact(tmp_path / "art").description.to_json()
    b = load_model_source(tmp_path / "calo.h5").fp.description.to_json()
    assert json.dumps(a) == json.dumps(b)


def test_description_refuses_unknown_layer_kinds_and_fields(tmp_path):
    from l1ad.errors import ModelError

    fp = FixedPointModel.from_keras(zoo.dense_alpha1())
    doc = fp.description.to_json()
    for layer_patch, needle in (({"kind": "lstm"}, "layers[1].kind"), ({"gain": 2}, "layers[1]")):
        bad = json.loads(json.dumps(doc))
        bad["layers"][1].update(layer_patch)
        (tmp_path / "fp.json").write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=re.escape(needle)):
            FixedPointModel.load(tmp_path / "fp.json")


def test_shared_layers_are_refused():
    """One chain of layers: a layer applied twice (weight sharing) is refused naming it."""
    from l1ad import _compat

    keras, qk = _compat.keras(), _compat.qkeras()
    inp = keras.layers.Input((6,))
    x = qk.QActivation(qk.quantized_bits(8, 3, alpha=1), name="inq")(inp)
    shared = qk.QDense(6, kernel_quantizer=zoo._kq(), bias_quantizer=zoo._kq(), name="shared")
    model = keras.Model(inp, shared(shared(x)), name="twice")
    with pytest.raises(UnsupportedLayerError, match="'shared'.*more than once"):
        FixedPointModel.from_keras(model)
