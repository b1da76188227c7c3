"""l1ad: Level-1 trigger anomaly detection, from QKeras training to bit-exact firmware and trigger rates.

Subpackages follow the data flow::

    data -> models/training -> fixedpoint (one description) -> {emulation, firmware (hls4ml, Verilog)}
         -> verification (cocotb) -> rates / background -> reports -> cli
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
