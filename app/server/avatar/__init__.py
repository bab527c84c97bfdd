"""Avatar sessions over the API: a photo or loop lip-synced to a client's speech (manager, stream, socket)."""
