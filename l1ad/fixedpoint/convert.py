"""Keras/QKeras model -> the nodes of the fixed-point description (handlers, rewrite passes, precisions).

The model must be one chain of layers. Each layer goes to the handler of its class
(:data:`l1ad.fixedpoint.registry.KERAS_HANDLERS`); an unknown class is refused naming the layer. Then the
rewrite passes run in their listed order (batch-norm folding) and precision inference gives every exact node
the smallest type that holds all its values, from the integer bounds of the input words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l1ad.bits import int_range
from l1ad.errors import UnsupportedLayerError
from l1ad.fixedpoint.layers.base import Bounds, Node, infer_nodes, refuse
from l1ad.fixedpoint.precision import InputField
from l1ad.fixedpoint.registry import KERAS_HANDLERS, PASSES, SKIPPED_KERAS
from l1ad.fixedpoint.score import Score
from l1ad.models.scoring import ScoreKind, input_quantizer_layer

__all__ = ["input_bounds", "keras_layers", "nodes_from_keras"]


def keras_layers(model: Any) -> list[Any]:
    """The model's computing layers in order; refuse anything that is not a single chain."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedLayerError(f"model '{model.name}': {len(model.inputs)} inputs and {len(model.outputs)} "
                                    "outputs; a trigger network has one of each")
    layers = []
    prev: Any = None
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            prev = layer
            continue
        try:
            inp = layer.input
            shared = len(getattr(layer, "_inbound_nodes", ())) > 1
        except AttributeError:
            shared = True
        if shared:
            raise refuse(layer, "is used more than once (shared layers are not supported)")
        if isinstance(inp, (list, tuple)) or (prev is not None and inp is not prev.output):
            raise refuse(layer, f"does not take the output of '{prev.name if prev else None}' (the model must be "
                         "one chain of layers)")
        prev = layer
        if type(layer).__name__ not in SKIPPED_KERAS:
            layers.append(layer)
    if prev is not None and model.outputs[0] is not prev.output:
        raise UnsupportedLayerError(f"model '{model.name}': its output is not the last layer's (one chain of layers)")
    return layers


def input_bounds(inputs: list[InputField], offset: np.ndarray, shift: np.ndarray, shape: tuple[int, ...]) -> Bounds:
    """Bounds of the preprocessed inputs ``(word - offset) * 2**-shift`` (LSB ``2**-shift`` per element)."""
    wlo, whi = (np.array(r, dtype=object) for r in zip(*(int_range(f.width, f.signed) for f in inputs), strict=True))
    sh = shift.reshape(shape).astype(np.int64)
    frac: np.ndarray | int = int(sh.flat[0]) if sh.size and np.all(sh == sh.flat[0]) else sh
    return Bounds((wlo - offset.astype(object)).reshape(shape), (whi - offset.astype(object)).reshape(shape), frac)


def nodes_from_keras(model: Any, inputs: list[InputField], offset: np.ndarray, shift: np.ndarray,
                     score: ScoreKind) -> tuple[list[Node], Score, tuple[int, ...], list[str]]:
    """(nodes with exact precisions, score, input shape, notes of the rewrite passes)."""
    in_shape = tuple(int(d) for d in model.input_shape[1:])
    n_in = int(np.prod(in_shape))
    if len(inputs) != n_in or offset.shape != (n_in,) or shift.shape != (n_in,):
        raise UnsupportedLayerError(f"model '{model.name}': input shape {in_shape} does not match {len(inputs)} "
                                    "input fields / preprocessing")
    nodes: list[Node] = []
    for layer in keras_layers(model):
        handler = KERAS_HANDLERS.get(type(layer).__name__)
        if handler is None:
            raise refuse(layer, "layer type not supported")
        nodes.extend(handler(layer))
    b0 = input_bounds(inputs, offset, shift, in_shape)
    notes: list[str] = []
    for rewrite in PASSES:
        nodes, more = rewrite(nodes, b0)
        notes.extend(more)
    nodes, bounds = infer_nodes(nodes, b0)
    iq = input_quantizer_layer(model)
    if iq is not None and nodes and nodes[0].name == iq.name:
        ref, ref_b = nodes[0].name, bounds[1]
    else:
        ref, ref_b = None, b0
    sc = Score.exact(score, bounds[-1], ref, ref_b)
    return nodes, sc, in_shape, notes
