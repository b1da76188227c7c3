"""Derive the fixed-point description from a QKeras model (quantizer parameters -> exact integers).

QKeras semantics (qkeras/quantizers.py, v0.9): ``quantized_bits(bits, integer, keep_negative, alpha=None|1)``
gives codes ``clip(round(x * 2**f), -2**(bits-1), 2**(bits-1)-1)`` with ``f = bits - keep_negative - integer``,
where ``round`` is ``tf.round`` = round half to even (RND_CONV) and the clip is saturation (SAT).
``quantized_relu(bits, integer)`` gives unsigned codes ``clip(round(x * 2**(bits-integer)), 0, 2**bits-1)``
(RND_CONV, SAT; the lower clip is the ReLU). Layers without a quantizer (QDense output) are exact sums, so
their accumulator precision is the exact range computed here by interval arithmetic (no overflow possible).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.types import (
    Conv1D,
    Dense,
    Flatten,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    InputField,
    Layer,
    MaxPool1D,
    Precision,
    Quantize,
    Relu,
    Score,
)

__all__ = ["layers_from_keras", "quantizer_precision"]

_SKIP = ("InputLayer", "Dropout")


def _qname(q: Any) -> str:
    return type(q).__name__ if not callable(q) or hasattr(q, "get_config") else getattr(q, "__name__", str(q))


def quantizer_precision(q: Any, layer_name: str, layer_type: str) -> Precision:
    """Precision (with RND_CONV/SAT) of a QKeras activation/weight quantizer; reject anything else."""
    cls = type(q).__name__
    if cls == "quantized_bits":
        alpha = q.alpha
        if not (alpha is None or (not isinstance(alpha, str) and float(alpha) == 1.0)):
            raise UnsupportedLayerError(f"layer '{layer_name}' ({layer_type}): quantized_bits alpha={alpha!r} not supported (use alpha=1)")
        if q.use_stochastic_rounding or float(getattr(q, "qnoise_factor", 1.0)) != 1.0:
            raise UnsupportedLayerError(f"layer '{layer_name}' ({layer_type}): stochastic/noisy quantized_bits not supported")
        bits, integer, signed = int(q.bits), int(q.integer), bool(q.keep_negative)
        if bits - int(signed) <= 0:
            raise UnsupportedLayerError(f"layer '{layer_name}' ({layer_type}): 1-bit (binary) quantized_bits not supported")
        sat = "SAT_SYM" if (q.symmetric and signed) else "SAT"
        return Precision(bits, bits - int(signed) - integer, signed, "RND_CONV", sat)
    if cls == "quantized_relu":
        if float(q.negative_slope) != 0.0 or q.use_sigmoid or q.relu_upper_bound is not None or q.use_stochastic_rounding:
            raise UnsupportedLayerError(f"layer '{layer_name}' ({layer_type}): quantized_relu with negative_slope/sigmoid/upper bound not supported")
        if float(getattr(q, "qnoise_factor", 1.0)) != 1.0:
            raise UnsupportedLayerError(f"layer '{layer_name}' ({layer_type}): quantized_relu qnoise_factor != 1")
        bits, integer = int(q.bits), int(q.integer)
        return Precision(bits, bits - integer, False, "RND_CONV", "SAT")
    raise UnsupportedLayerError(f"layer '{layer_name}' ({layer_type}): quantizer {_qname(q)} not supported")


class _Bounds:
    """Per-element integer bounds of the current tensor at ``frac``."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, frac: np.ndarray | int):
        self.lo, self.hi, self.frac = lo.astype(object), hi.astype(object), frac

    def precision(self, **modes: str) -> Precision:
        return Precision.covering(min(self.lo.ravel()), max(self.hi.ravel()), int(self.frac), **modes)


def _requant_bounds(b: _Bounds, prec: Precision) -> _Bounds:
    from l1ad.fixedpoint.emulator import requantize

    q, n_over = requantize(np.stack([b.lo, b.hi]).astype(np.int64), b.frac, prec)
    if n_over and prec.saturation == "WRAP":  # wrapping can land anywhere in the type
        shape = b.lo.shape
        return _Bounds(np.full(shape, prec.min_int), np.full(shape, prec.max_int), prec.frac)
    return _Bounds(q[0], q[1], prec.frac)


def _dense_bounds(lo: np.ndarray, hi: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wo = w.astype(object)
    pos = np.where(wo > 0, wo, 0)
    neg = np.where(wo < 0, wo, 0)
    return lo @ pos + hi @ neg, hi @ pos + lo @ neg


def _weights(q: Any, values: np.ndarray, lname: str, ltype: str, what: str) -> tuple[np.ndarray, int]:
    if q is None:
        raise UnsupportedLayerError(f"layer '{lname}' ({ltype}): {what} has no quantizer (float weights are not firmware)")
    prec = quantizer_precision(q, lname, ltype)
    qv = np.asarray(q(values.astype(np.float32)), dtype=np.float64)
    ints = np.ldexp(qv, prec.frac)
    if not np.all(ints == np.round(ints)):
        raise UnsupportedLayerError(f"layer '{lname}' ({ltype}): quantized {what} not on its 2**-{prec.frac} grid")
    return ints.astype(np.int64), prec.frac


def _fold_batchnorm(prev: Dense | Conv1D, bn: Any) -> None:
    """Fold y*scale + shift (float32 BN at inference, each an exact dyadic number) into ``prev``'s integers."""
    gamma = bn.gamma.numpy() if bn.scale else np.ones(bn.moving_mean.shape, np.float32)
    beta = bn.beta.numpy() if bn.center else np.zeros(bn.moving_mean.shape, np.float32)
    scale = (gamma / np.sqrt(bn.moving_variance.numpy() + np.float32(bn.epsilon))).astype(np.float32)
    shift = (beta - bn.moving_mean.numpy() * scale).astype(np.float32)

    def dyadic(v: np.ndarray) -> tuple[np.ndarray, int]:
        v = v.astype(np.float64)
        f = 0
        while not np.all(np.ldexp(v, f) == np.round(np.ldexp(v, f))):
            f += 1
            if f > 60:
                raise UnsupportedLayerError(f"layer '{bn.name}' (BatchNormalization): scale not representable")
        return np.round(np.ldexp(v, f)).astype(np.int64), f

    s_int, s_frac = dyadic(scale)
    t_int, t_frac = dyadic(shift)
    prev.weights = prev.weights * s_int  # broadcasts over the last (output-channel) axis
    prev.weight_frac += s_frac
    b_frac = max(prev.bias_frac + s_frac, t_frac)
    prev.bias = (prev.bias * s_int << (b_frac - prev.bias_frac - s_frac)) + (t_int << (b_frac - t_frac))
    prev.bias_frac = b_frac


def layers_from_keras(
    model: Any, inputs: list[InputField], offset: np.ndarray, shift: np.ndarray, score_type: str
) -> tuple[list[Layer], Score, tuple[int, ...]]:
    """Walk a sequential QKeras model; return (layers with exact precisions, score, input shape)."""
    in_shape = tuple(int(d) for d in model.input_shape[1:])
    n_in = int(np.prod(in_shape))
    if len(inputs) != n_in or offset.shape != (n_in,) or shift.shape != (n_in,):
        raise UnsupportedLayerError(f"model '{model.name}': input shape {in_shape} does not match {len(inputs)} input fields / preprocessing")
    wlo, whi = (np.array(r, dtype=object) for r in zip(*(int_range(f.width, f.signed) for f in inputs), strict=True))
    b = _Bounds((wlo - offset.astype(object)).reshape(in_shape), (whi - offset.astype(object)).reshape(in_shape),
                shift.reshape(in_shape).astype(np.int64))
    out: list[Layer] = []
    uniform = False  # is the current tensor's frac a single number?

    def add_quantize(name: str, prec: Precision, src: str) -> None:
        nonlocal b, uniform
        b = _requant_bounds(b, prec)
        out.append(Quantize(name, prec, source=src))
        uniform = True

    for layer in model.layers:
        ltype, name = type(layer).__name__, layer.name
        if ltype in _SKIP:
            continue
        if not out and ltype != "QActivation":
            raise UnsupportedLayerError(f"layer '{name}' ({ltype}): the first layer must be a QActivation(quantized_bits) input quantizer")
        if ltype == "QActivation":
            prec = quantizer_precision(layer.quantizer, name, ltype)
            add_quantize(name, prec, str(layer.quantizer))
        elif ltype in ("QDense", "QConv1D"):
            if not uniform:
                raise UnsupportedLayerError(f"layer '{name}' ({ltype}): input is not quantized")
            w, wf = _weights(layer.kernel_quantizer_internal, layer.kernel.numpy(), name, ltype, "kernel")
            if layer.use_bias:
                bq, bf = _weights(layer.bias_quantizer_internal, layer.bias.numpy(), name, ltype, "bias")
            else:
                bq, bf = np.zeros(w.shape[-1], np.int64), 0
            tmp = Precision(1, 0, True)
            if ltype == "QDense":
                if len(b.lo.shape) != 1:
                    raise UnsupportedLayerError(f"layer '{name}' ({ltype}): dense on a {len(b.lo.shape)}-d tensor (add Flatten)")
                lay: Dense | Conv1D = Dense(name, tmp, weights=w, weight_frac=wf, bias=bq, bias_frac=bf)
            else:
                if layer.padding != "valid" or tuple(layer.dilation_rate) != (1,):
                    raise UnsupportedLayerError(f"layer '{name}' ({ltype}): only padding='valid', dilation 1 supported")
                lay = Conv1D(name, tmp, weights=w, weight_frac=wf, bias=bq, bias_frac=bf, stride=int(layer.strides[0]))
            out.append(lay)
            act = layer.activation
            aname = getattr(act, "__name__", type(act).__name__)
            if aname not in ("linear", "relu") and not hasattr(act, "bits"):
                raise UnsupportedLayerError(f"layer '{name}' ({ltype}): activation {aname} not supported")
            uniform = False
            b = _finish_affine(lay, b)
            if aname == "relu":
                out.append(Relu(f"{name}_relu", Precision(1, 0, False)))
                b = _relu_bounds(out[-1], b)
            elif hasattr(act, "bits"):
                add_quantize(f"{name}_act", quantizer_precision(act, name, ltype), str(act))
        elif ltype == "BatchNormalization":
            prev = out[-1] if out else None
            if not isinstance(prev, (Dense, Conv1D)):
                raise UnsupportedLayerError(f"layer '{name}' ({ltype}): must directly follow a QDense/QConv1D to be folded")
            _fold_batchnorm(prev, layer)
            b = _finish_affine(prev, _pre_affine_bounds[id(prev)])
        elif ltype == "Activation":
            aname = getattr(layer.activation, "__name__", "")
            if aname == "relu":
                out.append(Relu(name, Precision(1, 0, False)))
                b = _relu_bounds(out[-1], b)
            elif aname != "linear":
                raise UnsupportedLayerError(f"layer '{name}' ({ltype}): activation {aname} not supported")
        elif ltype == "Flatten":
            b = _Bounds(b.lo.reshape(-1), b.hi.reshape(-1), b.frac)
            out.append(Flatten(name, b.precision()))
        elif ltype == "MaxPooling1D":
            if layer.padding != "valid":
                raise UnsupportedLayerError(f"layer '{name}' ({ltype}): only padding='valid' supported")
            pool, stride = int(layer.pool_size[0]), int(layer.strides[0])
            n_out = (b.lo.shape[0] - pool) // stride + 1
            idx = np.arange(n_out)[:, None] * stride + np.arange(pool)[None, :]
            b = _Bounds(b.lo[idx].max(axis=1), b.hi[idx].max(axis=1), b.frac)
            out.append(MaxPool1D(name, b.precision(), pool=pool, stride=stride))
        elif ltype == "GlobalMaxPooling1D":
            b = _Bounds(b.lo.max(axis=0), b.hi.max(axis=0), b.frac)
            out.append(GlobalMaxPool1D(name, b.precision()))
        elif ltype == "GlobalAveragePooling1D":
            n = b.lo.shape[0]
            if n & (n - 1):
                raise UnsupportedLayerError(f"layer '{name}' ({ltype}): length {n} is not a power of two")
            b = _Bounds(b.lo.sum(axis=0), b.hi.sum(axis=0), int(b.frac) + n.bit_length() - 1)
            out.append(GlobalAvgPool1D(name, b.precision()))
        else:
            raise UnsupportedLayerError(f"layer '{name}' ({ltype}): layer type not supported")

    score = _score(score_type, b, out)
    return out, score, in_shape


_pre_affine_bounds: dict[int, _Bounds] = {}


def _finish_affine(lay: Dense | Conv1D, b_in: _Bounds) -> _Bounds:
    """Exact accumulator bounds/precision of a dense/conv layer (no overflow possible)."""
    _pre_affine_bounds[id(lay)] = b_in
    frac_in = int(b_in.frac)
    acc_frac = frac_in + lay.weight_frac
    f = max(acc_frac, lay.bias_frac)
    if isinstance(lay, Dense):
        lo, hi = _dense_bounds(b_in.lo, b_in.hi, lay.weights)
    else:
        k = lay.weights.shape[0]
        n_out = (b_in.lo.shape[0] - k) // lay.stride + 1
        idx = np.arange(n_out)[:, None] * lay.stride + np.arange(k)[None, :]
        plo = b_in.lo[idx].reshape(n_out, -1)
        phi = b_in.hi[idx].reshape(n_out, -1)
        lo, hi = _dense_bounds(plo, phi, lay.weights.reshape(-1, lay.weights.shape[2]))
    bias = lay.bias.astype(object) * (1 << (f - lay.bias_frac))
    lo = lo * (1 << (f - acc_frac)) + bias
    hi = hi * (1 << (f - acc_frac)) + bias
    out = _Bounds(lo, hi, f)
    lay.output = out.precision()
    return out


def _relu_bounds(lay: Layer, b: _Bounds) -> _Bounds:
    out = _Bounds(np.maximum(b.lo, 0), np.maximum(b.hi, 0), b.frac)
    lay.output = out.precision()
    return out


def _score(score_type: str, b: _Bounds, layers: list[Layer]) -> Score:
    f = int(b.frac)
    lo, hi = b.lo.ravel(), b.hi.ravel()
    if score_type == "identity":
        if lo.size != 1:
            raise UnsupportedLayerError(f"score 'identity' needs one network output, got {lo.size}")
        return Score("identity", Precision.covering(lo[0], hi[0], f))
    if score_type == "sum_squares":
        sq = np.maximum(lo * lo, hi * hi)
        return Score("sum_squares", Precision.covering(0, sum(sq), 2 * f))
    if score_type == "squared_error":
        ref = layers[0]
        rb = _pre_affine_bounds.get(id(next(x for x in layers if isinstance(x, (Dense, Conv1D)))))
        if rb is None or rb.lo.size != lo.size:
            raise UnsupportedLayerError(f"score 'squared_error': output size {lo.size} differs from the input size")
        ff = max(f, int(rb.frac))
        dlo = lo * (1 << (ff - f)) - rb.hi.ravel() * (1 << (ff - int(rb.frac)))
        dhi = hi * (1 << (ff - f)) - rb.lo.ravel() * (1 << (ff - int(rb.frac)))
        sq = np.maximum(dlo * dlo, dhi * dhi)
        return Score("squared_error", Precision.covering(0, sum(sq), 2 * ff), reference=ref.name)
    raise UnsupportedLayerError(f"score type {score_type!r} not supported")
