"""Remote inputs and cloud outputs: `https://`, `s3://`, `gs://`, `r2://` and storage-profile URIs.

The interface the job runner, the CLI and the API use (one path for all of them):
- `uri.py`: what a source/target/output string names (`uri_kind`, `is_remote`; file:// and others refused).
- `fetch.py`: `fetch_input` — a remote input streamed into a job's folder: size-limited, resumable,
  format-sniffed; http(s) only with --allow-urls (`fetch_policy.py`) and only to public addresses,
  checked after DNS and after every redirect, connected to the checked address (`url_guard.py`);
  the answer read by `http_answer.py`, the body resumed by `http_download.py`. `transfer.py`: the
  progress and cancel callbacks every transfer takes.
- `object_target.py`: what an object URI names (`parse_object_uri`), an output checked early
  (`resolve_output`: endpoint, credentials); `s3_client.py`: the boto3 client and one-line store errors.
- `upload.py`: `upload_object` — a finished local file to its object key, verified (size, Content-MD5
  per part, ETag); the object appears under the final key only when complete, a cancel aborts the
  multipart upload; presigned links. `download.py`: `download_object`, `object_start` (an input's
  first bytes); `readback.py`: the read and delete of `swapcast storage test`.
- `profiles.py`: storage.json profiles (s3, r2, gcs, local); credentials only from the provider's
  standard environment or files, never stored, logged or returned.
"""
