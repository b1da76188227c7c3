"""Trigger models: AXOL1TL-style VAE, plain AE, b-jet CNN (QKeras + float twins), artifacts and scores."""

from l1ad.models.artifact import ARTIFACT_FILES, Artifact, ArtifactMeta, load_artifact, load_qkeras_model
from l1ad.models.preprocessing import Preprocessing, fit_float_scaling, fit_word_preprocessing
from l1ad.models.quantizers import QuantConfig
from l1ad.models.scoring import ScoreKind, trigger_scores

__all__ = [
    "ARTIFACT_FILES",
    "Artifact",
    "ArtifactMeta",
    "Preprocessing",
    "QuantConfig",
    "ScoreKind",
    "fit_float_scaling",
    "fit_word_preprocessing",
    "load_artifact",
    "load_qkeras_model",
    "trigger_scores",
]
