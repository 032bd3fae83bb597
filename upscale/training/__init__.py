"""Training: recipes, patch sampling fed exactly as eval feeds networks, the loop, checkpoints."""

from .trainer import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
