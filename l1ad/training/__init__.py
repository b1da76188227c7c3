"""Training: YAML config -> QKeras model and float twin trained on zero bias -> artifact directory."""

from l1ad.training.config import TrainConfig, load_train_config
from l1ad.training.train import train

__all__ = ["TrainConfig", "load_train_config", "train"]
