"""The one fixed-point description of a trigger model and its bit-exact NumPy emulator.

``FixedPointModel.from_artifact(dir)`` / ``from_keras(model, preprocessing, score)`` derive it from QKeras;
``save``/``load`` give its JSON form; ``predict(words)`` is the integer emulator. The Verilog (da4ml) and the
hls4ml project precisions are generated from this description and nothing else.
"""

from l1ad.fixedpoint.model import FixedPointModel
from l1ad.fixedpoint.types import InputField, Precision, Score

__all__ = ["FixedPointModel", "InputField", "Precision", "Score"]
