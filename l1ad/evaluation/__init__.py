"""``l1ad evaluate``: physics metrics and plots of a trained artifact, quantized vs float twin.

The figures of merit themselves (ROC/AUC, efficiency at fixed FPR/rate) are :mod:`l1ad.models.metrics`, shared
with training; this package reads the artifact, its held-out events and writes ``metrics.json`` + PNGs.
Data flow: evaluation imports training (its data loaders and split records), never the other way round.
"""

from l1ad.evaluation.evaluate import evaluate_artifact

__all__ = ["evaluate_artifact"]
