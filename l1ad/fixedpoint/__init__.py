"""The one fixed-point description of a trigger model and its bit-exact NumPy emulator.

``FixedPointModel.from_keras(model, ...)`` / ``from_artifact(dir)`` derive it from QKeras; ``save``/``load``
give its JSON form (``fixedpoint.json``); ``predict(words)`` is the integer emulator. The Verilog (da4ml) and
the hls4ml project precisions are generated from this description and nothing else. Layer kinds live one per
module in :mod:`l1ad.fixedpoint.layers`, listed in :mod:`l1ad.fixedpoint.registry`.
"""

from l1ad.fixedpoint.model import FixedPointModel
from l1ad.fixedpoint.precision import InputField, Precision, Rounding, Saturation
from l1ad.fixedpoint.score import Score

__all__ = ["FixedPointModel", "InputField", "Precision", "Rounding", "Saturation", "Score"]
