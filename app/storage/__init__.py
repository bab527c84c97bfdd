"""Remote inputs and cloud outputs: `https://`, `s3://`, `gs://`, `r2://` and storage-profile URIs.

The interface the job runner, the CLI and the API use (one path for all of them):
- `is_remote(text)`: whether a source/target/output names something not on this disk.
- `fetch_input(...)` (`fetch.py`): a remote input streamed into a job's folder, size-limited, resumable,
  SSRF-checked for http(s).
- `upload_output(...)` (`upload.py`): a finished local file to its object key — the object appears
  under the final key only when complete and verified; a cancel leaves none.
"""
