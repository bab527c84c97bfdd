"""What `WebSocket /api/events` subscribers are sent: messages, per-subscriber outboxes, job de-duplication, the hub."""
