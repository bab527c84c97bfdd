"""`swapcast serve`: the task API, live control, events over WebSocket and the web dashboard.

A front end beside the CLI and the GUI: it only calls the interfaces they use (the job store, the live
session API, the monitors) — never a second path to the engine. `app.py` builds the FastAPI app from a
`ServerContext`; each file in `routes/` is one group of endpoints.
"""
