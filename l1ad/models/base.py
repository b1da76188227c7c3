"""What every model builder returns: the training model and how to cut the deployable trigger model out of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from l1ad import _compat
from l1ad.models.scoring import ScoreKind

__all__ = ["BuiltModel", "trigger_submodel"]


@dataclass
class BuiltModel:
    """``model`` is trained (VAE: incl. sampling + decoder); ``trigger_output`` names the layer whose output
    the firmware computes (latent mu, reconstruction or logit) and ``score`` how the score follows from it."""

    kind: Literal["vae", "ae", "cnn"]
    model: Any
    trigger_output: str
    score: ScoreKind
    loss: Any  # passed to compile()

    def trigger_model(self, model: Any | None = None) -> Any:
        return trigger_submodel(model if model is not None else self.model, self.trigger_output)


def trigger_submodel(model: Any, output_layer: str) -> Any:
    keras = _compat.keras()
    return keras.Model(model.inputs, model.get_layer(output_layer).output, name=f"{model.name}_trigger")
