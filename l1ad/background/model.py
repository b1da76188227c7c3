"""Two small QKeras autoencoders trained jointly with a distance-correlation penalty (double DisCo AE).

Loss per batch (Mikuni, Nachman, Shih, arXiv:2111.06417; code ``ViniciusMikuni/DoubleAE``):

    L = mean_batch(s1) + mean_batch(s2) + λ · dCorr²(s1, s2),   s_k = per-event MSE of autoencoder k,

implemented in :meth:`DoubleAE.train_step` with a ``GradientTape``. The two networks have the same shape
and different initialisation. Each is a standalone trigger model (input = the 57 preprocessed values,
first layer a ``QActivation(quantized_bits)`` input quantizer, output = reconstruction) and is exported
as an ``l1ad`` model artifact (``kind: ae``, ``score: squared_error``) that ``l1ad build`` accepts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l1ad import _compat
from l1ad.background.config import ModelSection, TrainSection
from l1ad.background.dcorr import dcorr_sq

__all__ = ["DoubleAE", "TrainResult", "build_ae", "reconstruction_error", "train_pair"]

log = logging.getLogger(__name__)


def build_ae(cfg: ModelSection, n_inputs: int, name: str) -> Any:
    """One autoencoder from ``l1ad.models.ae`` (same layers and quantizers as ``l1ad train``'s AE).

    Returns ``(built, train_model)``: ``built.model`` is the trigger model (inputs -> reconstruction);
    ``train_model`` has two outputs ``[reconstruction, quantized_input]`` (the second is the reconstruction
    target, i.e. the input as the firmware sees it after the input quantizer).
    """
    keras = _compat.keras()
    from l1ad.models.ae import AeConfig
    from l1ad.models.ae import build_ae as _build

    built = _build(AeConfig(hidden=list(cfg.hidden)), cfg.quantizers, name=name, n_inputs=n_inputs)
    m = built.model
    xq = m.layers[1].output  # the input quantizer (first layer after Input)
    return built, keras.Model(m.input, [m.output, xq], name=f"{name}_train")


def _keras_model_base() -> Any:
    return _compat.keras().Model


class DoubleAE(_keras_model_base()):  # type: ignore[misc]
    """Two autoencoders trained together; ``lam`` weights the dCorr² penalty (0 = independent training)."""

    def __init__(self, ae1: Any, ae2: Any, lam: float, rec_scale: float = 1.0, dcorr_on: str = "score",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        keras = _compat.keras()
        self.ae1, self.ae2, self.lam, self.rec_scale = ae1, ae2, float(lam), float(rec_scale)
        self.dcorr_on = dcorr_on
        self._trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "rec1", "rec2", "dcorr")}

    @property
    def metrics(self) -> list[Any]:
        return list(self._trackers.values())

    def call(self, x: Any, training: bool = False) -> tuple[Any, Any]:
        tf = _compat.tensorflow()
        r1, q1 = self.ae1(x, training=training)
        r2, q2 = self.ae2(x, training=training)
        s1 = tf.reduce_mean(tf.square(r1 - q1), axis=1) * self.rec_scale
        s2 = tf.reduce_mean(tf.square(r2 - q2), axis=1) * self.rec_scale
        return s1, s2

    def _dcorr(self, s1: Any, s2: Any) -> Any:
        tf = _compat.tensorflow()
        if self.dcorr_on == "log_score":  # ABCD is invariant under monotone maps; log spreads the tails
            return dcorr_sq(tf.math.log(s1 + 1e-6), tf.math.log(s2 + 1e-6))
        return dcorr_sq(s1, s2)

    def _update(self, loss: Any, s1: Any, s2: Any, dc: Any) -> dict[str, Any]:
        tf = _compat.tensorflow()
        for k, v in (("loss", loss), ("rec1", tf.reduce_mean(s1)), ("rec2", tf.reduce_mean(s2)), ("dcorr", dc)):
            self._trackers[k].update_state(v)
        return {k: t.result() for k, t in self._trackers.items()}

    def train_step(self, data: Any) -> dict[str, Any]:
        tf = _compat.tensorflow()
        with tf.GradientTape() as tape:
            s1, s2 = self(data, training=True)
            loss = tf.reduce_mean(s1) + tf.reduce_mean(s2)
            if self.lam > 0:  # the O(batch²) term only when it contributes to the gradient
                dc = self._dcorr(s1, s2)
                loss = loss + self.lam * dc
            else:
                dc = tf.constant(math.nan)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return self._update(loss, s1, s2, dc)

    def test_step(self, data: Any) -> dict[str, Any]:
        tf = _compat.tensorflow()
        s1, s2 = self(data, training=False)
        dc = self._dcorr(s1, s2)
        loss = tf.reduce_mean(s1) + tf.reduce_mean(s2) + self.lam * dc
        return self._update(loss, s1, s2, dc)


@dataclass
class TrainResult:
    pair: DoubleAE
    history: dict[str, list[float]]
    seconds: float
    epochs_run: int
    best_epoch: int
    config: dict[str, Any] = field(default_factory=dict)


class _LogEpoch(_compat.keras().callbacks.Callback):  # type: ignore[misc]
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        log.info("[%s] epoch %d loss %.4g val_loss %.4g val_dcorr %.3g", self.label, epoch + 1,
                 logs.get("loss", math.nan), logs.get("val_loss", math.nan), logs.get("val_dcorr", math.nan))


def train_pair(
    x_train: np.ndarray,
    x_val: np.ndarray,
    model_cfg: ModelSection,
    train_cfg: TrainSection,
    lam: float | None = None,
    epochs: int | None = None,
    label: str = "pair",
) -> TrainResult:
    """Train two autoencoders jointly (Adam, early stopping on validation loss, best weights restored)."""
    tf = _compat.tensorflow()
    keras = _compat.keras()
    lam = train_cfg.lam if lam is None else lam
    epochs = train_cfg.epochs if epochs is None else epochs
    tf.keras.utils.set_random_seed(train_cfg.seed)
    n_in = x_train.shape[1]
    built1, ae1 = build_ae(model_cfg, n_in, name="ae1")  # different initialisation: drawn one after the other
    built2, ae2 = build_ae(model_cfg, n_in, name="ae2")
    # Reconstruction loss in units of the mean input variance: the paper's MinMax-scaled inputs make the MSE
    # small next to λ·dCorr²; normalising keeps λ's meaning independent of the input scaling.
    xq = ae1.predict(x_train[: min(len(x_train), 50_000)].astype(np.float32), batch_size=65_536, verbose=0)[1]
    rec_scale = 1.0 / max(float(np.mean(np.var(xq, axis=0))), 1e-12)
    pair = DoubleAE(ae1, ae2, lam, rec_scale, train_cfg.dcorr_on)
    pair.built_models = (built1, built2)
    pair.compile(optimizer=keras.optimizers.Adam(learning_rate=train_cfg.learning_rate))
    bs = min(train_cfg.batch_size, len(x_train))
    ds = (tf.data.Dataset.from_tensor_slices(x_train.astype(np.float32))
          .shuffle(len(x_train), seed=train_cfg.seed, reshuffle_each_iteration=True)
          .batch(bs, drop_remainder=len(x_train) >= bs).prefetch(2))
    vbs = min(bs, len(x_val))
    vds = tf.data.Dataset.from_tensor_slices(x_val.astype(np.float32)).batch(vbs, drop_remainder=True)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=train_cfg.patience,
                                         restore_best_weights=True)
    t0 = time.monotonic()
    hist = pair.fit(ds, validation_data=vds, epochs=epochs, verbose=0, callbacks=[stop, _LogEpoch(label)])
    seconds = time.monotonic() - t0
    h = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    vl = h.get("val_loss", [math.nan])
    best = int(np.nanargmin(vl)) + 1 if not all(math.isnan(v) for v in vl) else len(vl)
    return TrainResult(pair, h, seconds, len(vl), best,
                       {"lam": lam, "epochs": epochs, "batch_size": bs,
                        "learning_rate": train_cfg.learning_rate, "patience": train_cfg.patience,
                        "seed": train_cfg.seed, "rec_scale": rec_scale,
                        "dcorr_on": train_cfg.dcorr_on})


def reconstruction_error(ae: Any, x: np.ndarray, batch_size: int = 65_536) -> np.ndarray:
    """The trigger score: Σ (reconstruction - quantized input)² per event (float64; ``squared_error`` of
    ``l1ad.models.scoring``). ``ae`` is a two-output training model from :func:`build_ae`."""
    from l1ad.models.scoring import ScoreKind, score_array

    recon, xq = ae.predict(x.astype(np.float32), batch_size=batch_size, verbose=0)
    return score_array(ScoreKind.SQUARED_ERROR, recon.astype(np.float64), xq.astype(np.float64))
