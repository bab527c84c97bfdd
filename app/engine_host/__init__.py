"""The app's side of the engines: settings, the engine manager, loaded engines and what in-process
engines borrow (video I/O). Shared by offline jobs (app/offline), the live pipeline (app/pipeline),
the studio and the CLI, so none of them reaches into another for its engine."""
