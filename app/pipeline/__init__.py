"""The live pipeline: capture → engine → outputs (virtual camera, stream, recording, preview)."""
