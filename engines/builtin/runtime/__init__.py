"""onnxruntime sessions (providers, warm-up) and per-stage timing."""
