"""What the tool shows: benches, the model zoo, comparison pictures, the demo, markdown tables."""
