"""``--ema``: an exponential moving average of the weights, which validation, best and export use.

At a constant learning rate (the stable phase of every recipe's schedule) Adam keeps
the weights moving about the minimum they approach: RDN x2 at 2e-4 and batch 8 moved
Set5 by 0.2-0.5 dB from one validation to the next. An average of the recent steps sits
nearer the middle of that motion, so a run stopped at any step ships better weights,
and the Set5 curve that the stop rule reads is steadier. The final decay still runs: it
moves the live weights themselves to the middle, and the average follows them.

With decay ``d`` the average weighs the last ``1 / (1 - d)`` steps most (200 at 0.995).
Buffers (batch-norm statistics, step counters) are copied, not averaged.

The decay warms up: ``t`` updates after the average started it is min(d, (1 + t) / (10 + t)),
so a young average follows the live weights. Without it an average started at an ``--init``
with fresh layers keeps their random start for a long time: RDN x4 from the x2 weights
validated at 12.15 dB after 181 steps (live 28.80), 0.995^181 = 40% of the random
upsampler still in it. At 0.995 the warm-up is over by t = 1790.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..errors import UsageError


# The warm-up's offset: t updates after the average started, its decay is at most (1 + t) / (WARMUP + t).
WARMUP = 10


def check_decay(decay: float) -> None:
    if not 0.0 < decay < 1.0:
        raise UsageError(f"--ema takes a decay between 0 and 1 (such as 0.995), got {decay}")


class WeightAverage:
    """A frozen copy of the network whose parameters follow the trained ones."""

    def __init__(self, net: nn.Module, decay: float, since: int) -> None:
        check_decay(decay)
        self.decay, self.since = decay, since  # ``since``: the step the average started from
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay of the update made at ``step``: warmed up from where the average started."""
        t = max(step - self.since, 0)
        return min(self.decay, (1.0 + t) / (WARMUP + t))

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        """One step of the average towards ``net`` (read only), the update made at ``step``."""
        weight = 1.0 - self.decay_at(step)
        for mine, live in zip(self.net.parameters(), net.parameters()):
            mine.lerp_(live, weight)
        for mine, live in zip(self.net.buffers(), net.buffers()):
            mine.copy_(live)

    def state(self) -> dict[str, Any]:
        return {"decay": self.decay, "since": self.since, "weights": self.net.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        """The checkpoint's average; the decay stays the one asked for now (it only sets the horizon)."""
        self.net.load_state_dict(state["weights"])
        self.since = int(state["since"])

    def describe(self) -> dict[str, Any]:
        """What the weights' metadata says of the average."""
        return {"decay": self.decay, "since_step": self.since, "warmup": f"min(decay, (1 + t) / ({WARMUP} + t))"}
