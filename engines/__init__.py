"""Everything that turns frames into swapped frames. Knows nothing of Qt or of `app/`."""
