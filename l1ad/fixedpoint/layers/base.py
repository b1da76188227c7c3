"""What every layer kind provides, and the small shared pieces (integer bounds, da4ml helpers).

A layer kind is one module in this package holding, side by side:

* its frozen dataclass node(s) (subclasses of :class:`Node`, ``kind`` a ClassVar naming it in fixedpoint.json);
* ``KERAS``: the Keras/QKeras class names it converts, each with a handler ``f(layer) -> list[Node]``;
* per node: ``propagate`` (exact integer bounds of its result, used for precision inference and proofs),
  ``emulate`` (the NumPy integer op), ``trace`` (the da4ml op), ``hls`` (its hls4ml precision settings, plus
  ``hls_patch`` for values hls4ml recomputes in float) and optionally ``fast`` (its steps of the float fast
  path, proven exact from the description's integer bounds; a node without them sends the model to the generic
  path);
* optionally ``PASSES``: rewrites over the node list that concern this kind (batch-norm folding).

:mod:`l1ad.fixedpoint.registry` lists the modules explicitly; nothing registers itself at import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l1ad.errors import ModelError, UnsupportedLayerError
from l1ad.fixedpoint.precision import Precision, requantize

__all__ = ["PENDING", "Bounds", "FastContext", "HlsContext", "Node", "Step", "abs_max", "channel_factor", "dense_bounds",
           "infer_nodes", "object_array", "per_element", "refuse", "refuse_node", "trace_quantize", "tree_sum"]

Step = Callable[[np.ndarray], np.ndarray]


def refuse(layer: Any, why: str) -> UnsupportedLayerError:
    """The one-line refusal: names the layer, its class and why."""
    return UnsupportedLayerError(f"layer '{layer.name}' ({type(layer).__name__}): {why}")


def refuse_node(node: Node, why: str) -> UnsupportedLayerError:
    """The one-line refusal for a description node (names it and its kind)."""
    return UnsupportedLayerError(f"layer '{node.name}' ({node.kind}): {why}")


class Bounds:
    """Per-element integer bounds ``lo <= q <= hi`` (Python ints) of a tensor with LSB ``2**-frac``.

    ``frac`` is an int, or (for the preprocessed inputs) an int64 array of the tensor's shape."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, frac: np.ndarray | int):
        self.lo, self.hi = np.asarray(lo).astype(object), np.asarray(hi).astype(object)
        f = np.asarray(frac)
        self.frac: np.ndarray | int = int(f) if f.ndim == 0 else f.astype(np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.lo.shape)

    @property
    def uniform(self) -> bool:
        return isinstance(self.frac, int)

    def uniform_frac(self, node: Node) -> int:
        if isinstance(self.frac, int):
            return self.frac
        f = np.unique(self.frac)
        if len(f) == 1:
            return int(f[0])
        raise UnsupportedLayerError(
            f"layer '{node.name}' ({node.kind}): its inputs have different binary points (shifts {f.tolist()}); "
            "add an input quantizer (QActivation) or give one --shift")

    def precision(self, **modes: Any) -> Precision:
        frac = self.frac if isinstance(self.frac, int) else int(np.max(self.frac))
        if not isinstance(self.frac, int) and np.any(self.frac != frac):
            lo = [v << (frac - int(f)) for v, f in zip(self.lo.ravel(), self.frac.ravel(), strict=True)]
            hi = [v << (frac - int(f)) for v, f in zip(self.hi.ravel(), self.frac.ravel(), strict=True)]
            return Precision.covering(min(lo), max(hi), frac, **modes)
        return Precision.covering(min(self.lo.ravel()), max(self.hi.ravel()), frac, **modes)

    def requantized(self, prec: Precision) -> Bounds:
        """Bounds after requantizing into ``prec`` (monotone, so the ends map to the ends)."""
        q, n_over = requantize(np.stack([self.lo, self.hi]).astype(np.int64), self.frac, prec)
        if n_over and prec.saturation == "WRAP":  # wrapping can land anywhere in the type
            return Bounds(np.full(self.shape, prec.min_int), np.full(self.shape, prec.max_int), prec.frac)
        return Bounds(q[0], q[1], prec.frac)

    def reshape(self, shape: tuple[int, ...]) -> Bounds:
        f = self.frac if isinstance(self.frac, int) else self.frac.reshape(shape)
        return Bounds(self.lo.reshape(shape), self.hi.reshape(shape), f)


def dense_bounds(lo: np.ndarray, hi: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds of ``x @ w`` for ``lo <= x <= hi`` (object arrays of Python ints)."""
    wo = w.astype(object)
    pos = np.where(wo > 0, wo, 0)
    neg = np.where(wo < 0, wo, 0)
    return lo @ pos + hi @ neg, hi @ pos + lo @ neg


@dataclass
class HlsContext:
    """What a node's hls4ml settings may look at: the config's ``LayerName`` dict, the Keras model, the node's
    input precision and the node that follows it."""

    names: dict[str, Any]
    keras_model: Any
    in_prec: Precision | None
    following: Node | None
    node_names: frozenset[str] = frozenset()

    def set(self, hls_name: str, var: str, prec: Precision) -> None:
        self.names.setdefault(hls_name, {}).setdefault("Precision", {})
        if not isinstance(self.names[hls_name]["Precision"], dict):
            self.names[hls_name]["Precision"] = {}
        self.names[hls_name]["Precision"][var] = prec.hls_type()


@dataclass
class FastContext:
    """What a node's fast steps are compiled from (see :mod:`l1ad.fixedpoint.fast`).

    Tensors on the fast path are float arrays of shape ``(*node shape, n)`` (events on the last axis) holding
    exact integers (the node's values at their binary point, possibly times a power of two folded in from a later
    requantization). ``dt`` is float32 or float64 and ``limit`` the magnitude (2**24 or 2**53) below which every
    integer is exact in it: a node adds its steps (and returns True) only if it has proven (:meth:`fits`) that
    every integer it forms - products, partial sums, the result before rounding - stays below ``limit``; sums
    and products of such integers are then exact in any order (BLAS blocking, FMA, pairwise sums), and so are
    power-of-two scalings (they change the exponent, not the significand), ``floor``/``rint``/``clip``/``mod``.

    ``bounds``: exact bounds of the node's input; ``raw``: ``node.propagate(bounds)`` (its result before it is
    brought into ``output``); ``steps``: the steps compiled so far (a node appends its own with :meth:`add`; the
    last one may absorb a power-of-two scale, :meth:`fold`)."""

    dt: type
    limit: int
    bounds: Bounds
    raw: Bounds
    steps: list[Step] = dataclasses.field(default_factory=list)
    #: indices of steps whose output is used later (the squared-error reference): no scale may be folded in
    pinned: set[int] = dataclasses.field(default_factory=set)

    def add(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def fits(self, *values: Any) -> bool:
        """True when every integer in ``values`` (ints, arrays or :class:`Bounds`) is below ``limit`` in magnitude."""
        for v in values:
            if isinstance(v, Bounds):
                if not self.fits(v.lo, v.hi):
                    return False
                continue
            a = np.asarray(v, dtype=object).ravel()
            if a.size and max(abs(int(x)) for x in a) >= self.limit:
                return False
        return True

    def fold(self, scale: float | np.ndarray) -> bool:
        """Fold a multiplication by power-of-two ``scale`` (a scalar or an array broadcasting over the tensor)
        into the last step if it is linear (input, dense, conv, batch norm) and not pinned; True if done."""
        if not self.steps or len(self.steps) - 1 in self.pinned:
            return False
        scaled = getattr(self.steps[-1], "scaled", None)
        new = scaled(scale) if scaled is not None else None
        if new is None:
            return False
        self.steps[-1] = new
        return True


def abs_max(b: Bounds) -> np.ndarray:
    """Per-element largest magnitude (object array of Python ints)."""
    return np.maximum(np.abs(b.lo), np.abs(b.hi))


def per_element(a: np.ndarray | int) -> np.ndarray | int:
    """A per-element parameter (an int, or an array of the node's shape) broadcastable over ``(*shape, n)``."""
    return int(a) if np.ndim(a) == 0 else np.asarray(a).reshape(*np.shape(a), 1)


def channel_factor(factor: np.ndarray, channels: int) -> np.ndarray | None:
    """A scale over a (..., channels, n) tensor as a (channels, 1) column, or None if it varies along other axes."""
    f = np.asarray(factor)
    if f.size == 1:
        return f.reshape(1, 1)
    f = f.reshape(-1, channels) if f.size % channels == 0 else None  # type: ignore[assignment]
    if f is None or np.any(f != f[:1]):
        return None
    return f[0].reshape(channels, 1)


#: placeholder output of a node whose exact type is set by precision inference (:meth:`Node.infer`)
PENDING = Precision(1, 0, False)


@dataclass(frozen=True, eq=False)
class Node:
    """One step of the integer network. ``output`` is the type of its result: declared (a quantizer) or, for
    ``EXACT`` kinds, the smallest type holding every value the result can take (set by :meth:`infer`)."""

    kind: ClassVar[str] = ""
    #: fields holding integer arrays (JSON lists)
    ARRAYS: ClassVar[tuple[str, ...]] = ()
    #: fields left out of the JSON while they hold their default (added after format 1 was first written)
    OPTIONAL: ClassVar[tuple[str, ...]] = ()
    #: True: the result is held exactly, ``output`` follows from the input bounds; False: ``output`` is declared
    EXACT: ClassVar[bool] = True

    name: str
    output: Precision = PENDING

    # ---- integer bounds
    def propagate(self, b: Bounds) -> Bounds:
        """Exact bounds of the result before it is brought into ``output`` (default: elementwise identity)."""
        return b

    def infer(self, b: Bounds) -> tuple[Node, Bounds]:
        """This node with ``output`` set (``EXACT`` kinds) and the bounds of its output, given input bounds ``b``."""
        raw = self.propagate(b)
        node = dataclasses.replace(self, output=raw.precision()) if self.EXACT else self
        return node, raw.requantized(node.output)

    # ---- execution
    def emulate(self, x: np.ndarray, frac: np.ndarray | int, in_prec: Precision | None) -> tuple[np.ndarray, int]:
        raise NotImplementedError(self.kind)

    def trace(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(self.kind)

    def fast(self, ctx: FastContext) -> bool:
        """Add this node's float steps on ``(*shape, n)`` tensors to ``ctx``, proven exact (see
        :class:`FastContext`); False when it needs the generic path."""
        return False

    def work_bits(self) -> int:
        """Widest intermediate integer (bits) the emulator forms for this node."""
        return self.output.width

    # ---- hls4ml
    def hls(self, ctx: HlsContext) -> None:
        if self.name in ctx.names:
            ctx.set(self.name, "result", self.output)

    def hls_patch(self, graph_layers: dict[str, Any]) -> None:
        """Adjust hls4ml's converted layers (weights it recomputes in float) to the description's integers."""

    # ---- JSON
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in self.OPTIONAL and v == f.default:
                continue
            if f.name in self.ARRAYS:
                d[f.name] = np.asarray(v).tolist()
            elif isinstance(v, Precision):
                d[f.name] = v.to_json()
            elif isinstance(v, tuple):
                d[f.name] = list(v)
            else:
                d[f.name] = v
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Node:
        d = dict(d)
        d.pop("kind", None)
        d["output"] = Precision(**d["output"])
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ModelError(f"{cls.kind} layer: unknown field {unknown[0]!r}")
        for k in cls.ARRAYS:
            if k in d:
                d[k] = np.asarray(d[k], dtype=np.int64)
        for k, v in d.items():
            if isinstance(v, list) and k not in cls.ARRAYS:
                d[k] = _tuples(v)
        return cls(**d)


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


# ------------------------------------------------------------------------------------------------ da4ml helpers
def trace_quantize(v: Any, prec: Precision) -> Any:
    """Bring one traced da4ml variable into ``prec`` (RND_CONV built from TRN with the round-half-even trick)."""
    k = int(prec.signed)
    i = prec.width - prec.frac - k
    f = prec.frac
    rnd = str(prec.rounding)
    _k, _i, _f = v.kif
    if rnd == "RND_CONV":
        rnd = "TRN"
        if _f > f and v.low != v.high:
            # round half to even: add (half - ulp) + (kept LSB) * ulp, then truncate
            bit = v.quantize(0, 1 - f, f, "WRAP", "TRN")
            v = v + (2.0 ** (-f - 1) - 2.0 ** (-_f)) + bit * 2.0 ** (f - _f)
        elif _f > f:  # constant
            val = float(v.low) * 2.0**f
            return v.from_const(float(np.rint(val)) * 2.0**-f, hwconf=v.hwconf).quantize(k, i, f, str(prec.saturation), "TRN")
    return v.quantize(k, i, f, str(prec.saturation), rnd)


def tree_sum(vals: list[Any]) -> Any:
    """Balanced adder tree (pairs from the left, an odd last one carried up)."""
    vals = list(vals)
    while len(vals) > 1:
        nxt = [vals[j] + vals[j + 1] for j in range(0, len(vals) - 1, 2)]
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
    return vals[0]


def object_array(values: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    a = np.empty(len(values), dtype=object)
    a[:] = values
    return a.reshape(shape)


def infer_nodes(nodes: list[Node], b: Bounds) -> tuple[list[Node], list[Bounds]]:
    """Precision inference along a chain: the nodes with exact outputs set, and the bounds entering each node
    plus (last) the bounds of the chain's result."""
    out, seen = [], [b]
    for node in nodes:
        node, b = node.infer(b)
        out.append(node)
        seen.append(b)
    return out, seen
