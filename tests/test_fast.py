"""The emulator's fast path (float32/float64 BLAS steps proven exact from the description's bounds, one ``fast``
per layer kind) against the generic layer-by-layer integer path: every layer kind, every rounding and saturation
mode, rounding ties, negative values, per-input binary points and offsets, every score, accumulators wide enough
to need float64 or int64, and fault injection showing the comparison (and the exactness proof) can fail."""

from __future__ import annotations

import numpy as np
import pytest

from l1ad.fixedpoint import FixedPointModel, InputField, Precision, Score
from l1ad.fixedpoint import fast as fastmod
from l1ad.fixedpoint.convert import input_bounds
from l1ad.fixedpoint.layers import quantize as quantmod
from l1ad.fixedpoint.layers.base import infer_nodes
from l1ad.fixedpoint.layers.batchnorm import BatchNorm
from l1ad.fixedpoint.layers.conv import Conv1D, Conv2D
from l1ad.fixedpoint.layers.dense import Dense
from l1ad.fixedpoint.layers.flatten import Flatten
from l1ad.fixedpoint.layers.pooling import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
)
from l1ad.fixedpoint.layers.quantize import Quantize
from l1ad.fixedpoint.layers.relu import Linear, Relu
from l1ad.fixedpoint.layers.reshape import Reshape
from l1ad.models.scoring import ScoreKind

RNG = np.random.default_rng(1234)
MODES = [(r, s) for r in ("TRN", "RND", "RND_CONV") for s in ("WRAP", "SAT", "SAT_SYM")]


def describe(nodes, shape, *, width=10, signed=True, offset=0, shift=3, score="sum_squares", reference=None):
    """A description built from nodes (no Keras): exact types inferred from the input words' bounds, as
    :func:`l1ad.fixedpoint.convert.nodes_from_keras` does."""
    n = int(np.prod(shape))
    inputs = [InputField(f"w{i}", width, signed) for i in range(n)]
    off = np.broadcast_to(np.asarray(offset, np.int64), (n,)).copy()
    sh = np.broadcast_to(np.asarray(shift, np.int64), (n,)).copy()
    b0 = input_bounds(inputs, off, sh, tuple(shape))
    nodes, bounds = infer_nodes(list(nodes), b0)
    ref_b = b0 if reference is None else bounds[[x.name for x in nodes].index(reference) + 1]
    sc = Score.exact(ScoreKind(score), bounds[-1], reference, ref_b)
    return FixedPointModel("t", tuple(shape), inputs, off, sh, nodes, sc)


def q(name, width, frac, signed=True, rnd="RND_CONV", sat="SAT"):
    return Quantize(name, Precision(width, frac, signed, rnd, sat))


def dense(name, n_in, n_out, wbits=6, wf=4, bf=3, scale=1):
    w = RNG.integers(-(2 ** (wbits - 1)), 2 ** (wbits - 1), (n_in, n_out)) * scale
    return Dense(name, weights=w, weight_frac=wf, bias=RNG.integers(-64, 64, n_out), bias_frac=bf)


def conv1d(name, k, c_in, c_out, stride=1, padding=((0, 0),)):
    return Conv1D(name, weights=RNG.integers(-32, 32, (k, c_in, c_out)), weight_frac=4,
                  bias=RNG.integers(-32, 32, c_out), bias_frac=2, stride=stride, padding=padding)


def conv2d(name, k, c_in, c_out, strides=(1, 1), padding=((0, 0), (0, 0))):
    return Conv2D(name, weights=RNG.integers(-16, 16, (*k, c_in, c_out)), weight_frac=3,
                  bias=RNG.integers(-16, 16, c_out), bias_frac=2, strides=strides, padding=padding)


def edge_words(fp: FixedPointModel, n: int, seed: int = 0) -> np.ndarray:
    """Uniform random words plus every input at its minimum, its maximum, zero, and alternating extremes."""
    w = fp.random_words(n, seed)
    lo = np.array([-(1 << (f.width - 1)) if f.signed else 0 for f in fp.inputs])
    hi = np.array([(1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1 for f in fp.inputs])
    alt = np.where(np.arange(len(lo)) % 2 == 0, lo, hi)
    return np.concatenate([w, np.stack([lo, hi, np.zeros_like(lo), alt, alt[::-1]])])


def check(fp: FixedPointModel, dt: type = np.float32, n: int = 20_000, seed: int = 0) -> np.ndarray:
    """The fast path is used (in ``dt``) and equals the generic path on every word, for int64 and narrow words."""
    path = fp.fast_path
    assert path is not None and path.dt == dt, f"fast path {path and path.dt}, expected {dt}"
    w = edge_words(fp, n, seed)
    got = fp.predict(w)
    want = fp.predict_generic(w)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {len(w)} scores differ"
    assert len(np.unique(got)) > 20  # the network does something
    assert np.array_equal(fp.predict(w.astype(np.int32)), want)
    if all(f.width <= 16 for f in fp.inputs):
        assert np.array_equal(fp.predict(w.astype(np.int16)), want)
    return got


@pytest.mark.parametrize("rnd,sat", MODES)
def test_dense_every_rounding_and_saturation_mode(rnd, sat):
    """Requantizations that drop bits (exact ties every 2**k values), saturate or wrap, on signed values."""
    nodes = [q("inq", 7, 1, rnd=rnd, sat=sat), dense("d0", 12, 7), q("a0", 6, 1, rnd=rnd, sat=sat),
             dense("d1", 7, 5), q("a1", 7, 0, True, rnd, sat)]
    fp = describe(nodes, (12,), shift=3)
    check(fp)
    counts = fp.overflow_counts(edge_words(fp, 20_000))
    assert counts["a0"] > 0 and counts["inq"] > 0  # the modes are exercised, not just carried


def test_per_input_shifts_offsets_and_left_shifts():
    """GT-like preprocessing: per-input binary points (2..6) and offsets, folded into the input step; a
    quantizer with more fraction bits than its input (a left shift); unsigned inputs."""
    n = 15
    shift = np.arange(n) % 5 + 2
    offset = (np.arange(n) * 37) % 90 - 20
    nodes = [q("inq", 9, 4), dense("d0", n, 9), q("a0", 12, 9, signed=False), Relu("r"), dense("d1", 9, 4)]
    fp = describe(nodes, (n,), width=12, signed=False, offset=offset, shift=shift)
    check(fp)
    assert type(fp.fast_path.steps[0]).__name__ == "_Input"


@pytest.mark.parametrize("reference", [None, "inq"])
def test_squared_error_scores(reference):
    """The autoencoder score against the preprocessed input (no input quantizer) or the quantized input."""
    first = [q("inq", 8, 3)] if reference else []
    nodes = [*first, dense("d0", 10, 4), Relu("r0"), q("a0", 8, 3, signed=False), dense("d1", 4, 10),
             q("out", 9, 3)]
    check(describe(nodes, (10,), shift=3, score="squared_error", reference=reference))


def test_identity_score_negative_logit():
    nodes = [q("inq", 8, 3), dense("d0", 9, 6), Relu("r"), q("a", 8, 4, signed=False), dense("logit", 6, 1)]
    raw = check(describe(nodes, (9,), score="identity"))
    assert raw.min() < 0 < raw.max()


def test_conv1d_strides_padding_pooling_flatten():
    nodes = [q("inq", 8, 3), conv1d("c0", 3, 4, 6), q("a0", 8, 3, signed=False), MaxPool1D("p0", pool=2, stride=2),
             conv1d("c1", 2, 6, 5, stride=2, padding=((0, 1),)), Relu("r1"), q("a1", 9, 3, signed=False),
             AvgPool1D("p1", pool=2, stride=1), Flatten("f"), dense("d", 15, 3)]
    check(describe(nodes, (16, 4), score="sum_squares"))


@pytest.mark.parametrize("glob", [GlobalMaxPool1D, GlobalAvgPool1D])
def test_conv1d_global_pooling(glob):
    nodes = [q("inq", 8, 3), conv1d("c0", 3, 3, 4, padding=((1, 1),)), q("a0", 8, 3), glob("g"), dense("d", 4, 2)]
    check(describe(nodes, (8, 3)))


@pytest.mark.parametrize("glob", [GlobalMaxPool2D, GlobalAvgPool2D])
def test_conv2d_strides_padding_pooling(glob):
    nodes = [q("inq", 8, 3), conv2d("c0", (3, 3), 2, 4, strides=(1, 2), padding=((1, 1), (1, 1))),
             q("a0", 8, 3, signed=False), MaxPool2D("p0", pool=(2, 2), strides=(2, 1)),
             conv2d("c1", (2, 2), 4, 3), Relu("r"), q("a1", 9, 2, signed=False), AvgPool2D("p1", pool=(1, 2), strides=(1, 1)),
             glob("g"), dense("d", 3, 2)]
    check(describe(nodes, (10, 8, 2)))


def test_reshape_batchnorm_linear():
    bn = BatchNorm("bn", scale=RNG.integers(-900, 900, 5), scale_frac=8, shift=RNG.integers(-500, 500, 5),
                   shift_frac=6)
    nodes = [q("inq", 8, 3), Reshape("rs", shape=(4, 3)), conv1d("c0", 2, 3, 5), bn, Linear("lin"), Relu("r"),
             q("a", 8, 3, signed=False), Flatten("f"), dense("d", 15, 3)]
    check(describe(nodes, (12,)))


def wide_bn(name: str, bits: int, c: int) -> BatchNorm:
    """A batch norm whose per-channel multipliers are ``bits`` wide (a dense layer can never need more than
    float32: QKeras itself adds in float32, so the description refuses wider accumulators)."""
    top = 2 ** (bits - 1) - 1
    return BatchNorm(name, scale=RNG.choice([-1, 1], c) * RNG.integers(top // 2, top, c), scale_frac=bits - 4,
                     shift=RNG.integers(-500, 500, c), shift_frac=6)


def test_wide_products_float64_then_generic():
    """Products beyond 2**24 take float64; beyond 2**53 the generic int64 path (still exact)."""
    nodes = [q("inq", 10, 3), dense("d0", 12, 6), wide_bn("bn", 20, 6), q("a", 12, 2), dense("d1", 6, 3)]
    check(describe(nodes, (12,)), np.float64)
    check(describe([q("inq", 10, 3), dense("d0", 12, 1), wide_bn("bn", 20, 1)], (12,), score="identity"), np.float64)
    wide = describe([q("inq", 16, 0), dense("d0", 12, 1), wide_bn("bn", 34, 1)], (12,), width=16, shift=0,
                    score="identity")
    assert wide.fast_path is None
    w = edge_words(wide, 2000)
    assert np.array_equal(wide.predict(w), wide.predict_generic(w)) and np.abs(wide.predict(w)).max() > 2**53


def test_exactness_proof_is_load_bearing():
    """Fault injection: a model that needs float64 (35-bit batch-norm products), forced through float32 by waiving
    the proof, gives wrong scores - the check above would catch a proof that admitted too much."""
    fp = describe([q("inq", 10, 3), dense("d0", 12, 1), wide_bn("bn", 20, 1)], (12,), score="identity")
    b0 = input_bounds(list(fp.inputs), fp.offset, fp.shift, fp.input_shape)
    words = np.array([(-(1 << 9), (1 << 9) - 1)] * 12, dtype=object)
    forced = fastmod._compile(fp.layers, b0, words, fp.offset, fp.input_shape, fp.score, np.float32, 2**62, True)
    assert forced is not None and fp.fast_path.dt == np.float64
    w = edge_words(fp, 5000)
    assert np.count_nonzero(forced(w) != fp.predict_generic(w)) > 100


def test_wrong_rounding_is_caught(monkeypatch):
    """Fault injection: a fast-path requantization that truncates where it should round half to even."""
    fp = describe([q("inq", 8, 1), dense("d0", 12, 7), q("a0", 8, 1), dense("d1", 7, 3)], (12,))
    w = edge_words(fp, 5000)
    want = fp.predict_generic(w)
    monkeypatch.setattr(quantmod._Round, "__call__", lambda self, x: np.floor(x, out=x))
    fp2 = describe([q("inq", 8, 1), dense("d0", 12, 7), q("a0", 8, 1), dense("d1", 7, 3)], (12,))
    fp2.layers = fp.layers
    assert np.count_nonzero(fp2.predict(w) != want) > 100


def test_empty_and_chunk_edges():
    fp = describe([q("inq", 8, 3), dense("d0", 6, 3)], (6,))
    assert fp.predict(np.zeros((0, 6), np.int64)).shape == (0,)
    path = fp.fast_path
    for n in (1, path.chunk - 1, path.chunk, path.chunk + 1, 3 * path.chunk + 7):
        w = fp.random_words(n, n)
        assert np.array_equal(fp.predict(w), fp.predict_generic(w))
