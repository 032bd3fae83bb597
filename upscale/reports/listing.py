"""A plain-data description of every registered model, for listings and JSON."""

from __future__ import annotations

from ..hub.weights import has_shipped_weights
from ..models import count_parameters, create_model, get_spec, list_models


def model_rows() -> list[dict]:
    """One dict per model: name, paper, scales, input kind, colour space, params per scale."""
    rows = []
    for name in list_models():
        spec = get_spec(name)
        params = {str(s): count_parameters(create_model(name, s)) for s in spec.scales}
        rows.append(
            {
                "name": name,
                "paper": spec.paper,
                "scales": list(spec.scales),
                "input": spec.input_kind.value,
                "colour": spec.color_space.value,
                "parameters": params,
                "weights": [s for s in spec.scales if has_shipped_weights(spec, s)],
            }
        )
    return rows
