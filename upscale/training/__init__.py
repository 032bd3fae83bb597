"""Training: recipes, patch sampling fed exactly as eval feeds networks, the loop, checkpoints."""

from .config import TrainConfig, TrainResult
from .trainer import train

__all__ = ["TrainConfig", "TrainResult", "train"]
