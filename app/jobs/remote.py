"""The checks a job with remote inputs or a cloud output gets when it is queued (`swapcast swap`,
`jobs add`, `POST /api/jobs`): what can be known before anything is downloaded.

- every remote string has a scheme SwapCast takes (https/http, s3, gs, r2; file:// and the rest refused);
- http(s) inputs only when URLs are allowed (`--allow-urls`, the server's setting);
- an output URI is an object URI (not http) that app.storage.objects.resolve_output can place
  (bucket, key, profile and credentials known), each with a one-line error naming the fix.
What only downloading can tell (the address it resolves to, the size, the real format) is
app.storage.fetch's to refuse, when the job runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from engines.errors import InputError, OutputError

from app.storage.uri import UriKind, uri_kind

ALLOW_URLS_FIX = "add --allow-urls (on a server: `swapcast serve --allow-urls`) or download the file first"


def check_remote_input(text: str, allow_urls: bool, what: str) -> str:
    """`text` as given, if it may be fetched; InputError (one line) otherwise."""
    kind = uri_kind(text)  # InputError for file:// and unknown schemes
    if kind is UriKind.HTTP and not allow_urls:
        raise InputError(f"the {what} is a URL and URL inputs are off: {text}", ALLOW_URLS_FIX)
    return text


def check_remote_inputs(texts: Iterable[str], allow_urls: bool, what: str) -> list[str]:
    return [check_remote_input(text, allow_urls, what) for text in texts]


def check_remote_output(text: str) -> str:
    """An object URI (not http); OutputError / InputError (one line) otherwise."""
    kind = uri_kind(text)
    if kind is UriKind.HTTP:
        raise OutputError(f"an output cannot be an http(s) URL: {text}",
                          "give an object URI (s3://bucket/key.mp4, gs://…, r2://…) or a local path")
    return text


def check_object_outputs(uris: Iterable[str]) -> None:
    """Each output object can be placed: bucket, key, profile, endpoint and credentials known (no request
    is made). One-line errors from app.storage.objects.resolve_output."""
    try:
        from app.storage.objects import resolve_output
    except ImportError:  # a build without object storage: the upload reports it
        return
    for uri in uris:
        resolve_output(uri)
