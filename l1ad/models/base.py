"""What every model builder returns: the training model and how to cut the deployable trigger model out of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from l1ad import _compat

__all__ = ["BuiltModel", "ScoreType", "trigger_submodel"]

ScoreType = Literal["sum_squares", "squared_error", "identity"]


@dataclass
class BuiltModel:
    """``model`` is trained (VAE: incl. sampling + decoder); ``trigger_output`` names the layer whose output
    the firmware computes (latent mu, reconstruction or logit) and ``score`` how the score follows from it."""

    kind: Literal["vae", "ae", "cnn"]
    model: Any
    trigger_output: str
    score: ScoreType
    loss: Any  # passed to compile()

    def trigger_model(self, model: Any | None = None) -> Any:
        return trigger_submodel(model if model is not None else self.model, self.trigger_output)


def trigger_submodel(model: Any, output_layer: str) -> Any:
    keras = _compat.keras()
    return keras.Model(model.inputs, model.get_layer(output_layer).output, name=f"{model.name}_trigger")
