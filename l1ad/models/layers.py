"""Custom Keras layers used only for training the VAE (never part of the deployed trigger model)."""

from __future__ import annotations

from typing import Any

from l1ad import _compat

__all__ = ["custom_objects"]

_CACHE: dict[str, Any] = {}


def _classes() -> dict[str, Any]:
    if _CACHE:
        return _CACHE
    keras = _compat.keras()
    tf = _compat.tensorflow()

    class Sampling(keras.layers.Layer):
        """Reparameterisation: z = mu + exp(logvar / 2) * eps."""

        def call(self, inputs: Any) -> Any:
            mu, logvar = inputs
            eps = tf.random.normal(tf.shape(mu))
            return mu + tf.exp(0.5 * logvar) * eps

    class KLDivergence(keras.layers.Layer):
        """Adds beta * KL(N(mu, sigma) || N(0, 1)) to the model's losses; passes ``mu`` through."""

        def __init__(self, beta: float = 1.0, **kw: Any) -> None:
            super().__init__(**kw)
            self.beta = float(beta)

        def call(self, inputs: Any) -> Any:
            mu, logvar = inputs
            kl = -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar), axis=-1)
            self.add_loss(self.beta * tf.reduce_mean(kl))
            self.add_metric(tf.reduce_mean(kl), name="kl")
            return mu

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "beta": self.beta}

    _CACHE.update({"Sampling": Sampling, "KLDivergence": KLDivergence})
    return _CACHE


def sum_squared_error(y_true: Any, y_pred: Any) -> Any:
    """Reconstruction loss summed over the inputs (not averaged), so the KL term keeps its ELBO weight and the
    encoder does not collapse to the prior (mean-over-57 MSE made the KL dominate: posterior collapse)."""
    tf = _compat.tensorflow()
    return tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)


def sampling(name: str) -> Any:
    return _classes()["Sampling"](name=name)


def kl_divergence(beta: float, name: str) -> Any:
    return _classes()["KLDivergence"](beta=beta, name=name)


def custom_objects() -> dict[str, Any]:
    return {**_classes(), "sum_squared_error": sum_squared_error}
