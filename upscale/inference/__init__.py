"""Running a network on an image: typed options resolved once, loading, the per-tile pipeline, tiling, the engine, ONNX export."""
