"""Event generation for ``l1ad data generate``: Pythia 8 -> parametrised L1 emulation -> ADC2021 files.

Modules follow the data flow:

- :mod:`.processes` — the processes (zero bias, SM references, ADC2021 signals, b-tag jet sources);
- :mod:`.pythia` — Pythia set-up, seeds, batched generation into flat particle arrays (with vertices);
- :mod:`.l1emu` — detector response (towers, e/gamma, muons) and crossing assembly (MET, anti-kT jets);
- :mod:`.pileup` — the reusable min-bias pool and Poisson pileup overlay;
- :mod:`.btag` — the jet-level b-tagging sample (tracks with impact parameters, B-hadron labels);
- :mod:`.config` — typed schemas of ``configs/generation.yaml`` and ``configs/l1_emulation.yaml``;
- :mod:`.runner` — parallel orchestration and file writing.
"""

from l1ad.data.generation.config import (
    GenerationConfig,
    L1EmulationConfig,
    load_emulation_config,
    load_generation_config,
)
from l1ad.data.generation.processes import PROCESSES, get_process

__all__ = [
    "PROCESSES",
    "GenerationConfig",
    "L1EmulationConfig",
    "get_process",
    "load_emulation_config",
    "load_generation_config",
]
