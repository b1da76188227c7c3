"""Keras ``fit`` with early stopping, a per-epoch atomic checkpoint and one log line per epoch off a TTY.

Ctrl-C during ``fit`` propagates ``KeyboardInterrupt``; the checkpoint of the last *completed* epoch is always
written atomically; the caller (``l1ad.training.train``) writes no artifact and removes the checkpoint.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l1ad import _compat
from l1ad.io import atomic_file
from l1ad.models.base import BuiltModel
from l1ad.models.pruning import PruningConfig, apply_pruning, pruning_callbacks, strip_pruning
from l1ad.training.config import TrainingParams

__all__ = ["FitResult", "fit_model"]

log = logging.getLogger("l1ad.training")


@dataclass
class FitResult:
    model: Any  # trained, pruning stripped, best weights restored
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    seconds: float = 0.0
    events_per_second: float = 0.0


def _callbacks(label: str, checkpoint: Path | None, pruned: bool, epochs: int) -> list[Any]:
    keras = _compat.keras()

    class EpochLine(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t0 = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            vals = " ".join(f"{k}={v:.5g}" for k, v in (logs or {}).items())
            log.info("[%s] epoch %d/%d %s (%.1f s)", label, epoch + 1, epochs, vals,
                     time.monotonic() - self._t0)

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            assert checkpoint is not None
            m = strip_pruning(self.model) if pruned else self.model
            with atomic_file(checkpoint, suffix=".h5") as tmp:
                m.save(str(tmp), save_format="h5", include_optimizer=False)

    cbs: list[Any] = []
    if not sys.stdout.isatty():
        cbs.append(EpochLine())
    if checkpoint is not None:
        cbs.append(Checkpoint())
    return cbs


def _weight_average() -> Any:
    keras = _compat.keras()

    class WeightAverage(keras.callbacks.Callback):
        """Running mean of the weights at the end of every epoch, set on the model when training ends
        (stochastic weight averaging, Izmailov et al., arXiv:1803.05407). In QAT the float shadow weights
        random-walk across the quantizer's rounding boundaries; their mean is what gets quantized."""

        def on_train_begin(self, logs: Any = None) -> None:
            self.n, self.sum = 0, None

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            w = [np.asarray(v, np.float64) for v in self.model.get_weights()]
            self.sum = w if self.sum is None else [a + b for a, b in zip(self.sum, w, strict=True)]
            self.n += 1

        def on_train_end(self, logs: Any = None) -> None:
            self.last = self.model.get_weights()
            if self.n:
                self.model.set_weights([(a / self.n).astype(np.float32) for a in self.sum])

    return WeightAverage()


def _clip_kernels(layer_names: list[str], limit: float) -> Any:
    keras = _compat.keras()
    tf = _compat.tensorflow()

    class ClipKernels(keras.callbacks.Callback):
        """Clip the kernels of ``layer_names`` to [-limit, limit] after every training step (a float twin kept
        inside the quantized weight range: the two networks then differ only by the weight grid)."""

        def on_train_begin(self, logs: Any = None) -> None:
            self.kernels = [self.model.get_layer(n).kernel for n in layer_names]

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            for k in self.kernels:
                k.assign(tf.clip_by_value(k, -limit, limit))

    return ClipKernels()


def fit_model(built: BuiltModel, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
              params: TrainingParams, pruning: PruningConfig, label: str,
              checkpoint: Path | None = None, epochs: int | None = None,
              learning_rate: float | None = None, average_weights: bool = False,
              clip_kernels: tuple[list[str], float] | None = None, sample_weight: np.ndarray | None = None,
              val_weight: np.ndarray | None = None) -> FitResult:
    """``average_weights``: run all ``epochs`` (no early stopping) and keep the mean of the per-epoch weights.
    ``clip_kernels``: (layer names, limit) whose kernels stay within +-limit (clipped after every step).
    ``sample_weight``/``val_weight``: per-event loss weights (a weighted zero bias: the loss is then the
    expectation over LHC crossings)."""
    keras = _compat.keras()
    keras.utils.set_random_seed(params.seed)
    epochs = epochs or params.epochs
    steps = epochs * int(np.ceil(len(x) / params.batch_size))
    trigger_layers = {lay.name for lay in built.trigger_model().layers}
    model = apply_pruning(built.model, pruning, trigger_layers, steps)
    pruned = model is not built.model
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
           "rmsprop": keras.optimizers.RMSprop}[params.optimizer](
        learning_rate=learning_rate or params.learning_rate)
    model.compile(optimizer=opt, loss=built.loss)
    cbs = _callbacks(label, checkpoint, pruned, epochs) + pruning_callbacks(pruning)
    if clip_kernels is not None:
        cbs.insert(0, _clip_kernels(*clip_kernels))  # before the checkpoint sees the weights
    averager = _weight_average() if average_weights else None
    if averager is not None:
        cbs.append(averager)
    elif params.early_stopping is not None:
        cbs.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=params.early_stopping.patience,
            min_delta=params.early_stopping.min_delta, restore_best_weights=True))
    t0 = time.monotonic()
    val = (x_val, y_val) if val_weight is None else (x_val, y_val, val_weight)
    hist = model.fit(x, y, sample_weight=sample_weight, validation_data=val, epochs=epochs,
                     batch_size=params.batch_size, shuffle=True, callbacks=cbs,
                     verbose=1 if sys.stdout.isatty() else 0)
    dt = time.monotonic() - t0
    final = strip_pruning(model) if pruned else model
    n_ep = len(hist.history.get("loss", []))
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    if averager is not None:  # kept (averaged) vs last-epoch weights, same validation events and sampling
        avg = final.get_weights()
        for kind, w in (("last", averager.last), ("averaged", avg)):
            final.set_weights(w)
            keras.utils.set_random_seed(params.seed)
            ev = final.evaluate(x_val, y_val, sample_weight=val_weight, batch_size=params.batch_size, verbose=0,
                                return_dict=True)
            history.update({f"{kind}_val_{k}": [float(v)] for k, v in ev.items()})
    return FitResult(final, history, n_ep, dt, len(x) * n_ep / dt if dt > 0 else 0.0)
