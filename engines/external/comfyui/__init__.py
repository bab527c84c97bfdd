"""ComfyUI as an engine: the user's API-format workflow on a ComfyUI server, followed over its WebSocket.

`workflow` loads the workflow and its mapping and checks them against the server's nodes, `client`
speaks ComfyUI's HTTP + WebSocket protocol, `adapter` is the engine the manager runs (docs/ENGINES.md).
"""
