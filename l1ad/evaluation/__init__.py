"""Physics metrics and plots: ROC/AUC, efficiency at fixed FPR/rate, score distributions, b-tag ROC."""

from l1ad.evaluation.metrics import (
    WORKING_POINTS,
    ZERO_BIAS_RATE_HZ,
    ad_metrics,
    btag_metrics,
    efficiency_at_fpr,
    rate_to_fpr,
    roc,
)

__all__ = ["WORKING_POINTS", "ZERO_BIAS_RATE_HZ", "ad_metrics", "btag_metrics", "efficiency_at_fpr",
           "rate_to_fpr", "roc"]
