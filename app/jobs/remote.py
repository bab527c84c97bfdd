"""The checks a job with remote inputs or a cloud output gets when it is queued (`swapcast swap`,
`jobs add`, `POST /api/jobs`): what can be known before anything is downloaded.

- every remote string has a scheme SwapCast takes (https/http, s3, gs, r2; file:// and the rest refused);
- http(s) inputs only when URLs are allowed (`--allow-urls`, the server's setting);
- an output URI is an object URI (not http) that app.storage.object_target.resolve_output can place
  (bucket, key, profile and credentials known), each with a one-line error naming the fix;
- each http(s) input, once the cheap checks passed (admission.check_runnable): its addresses public
  after DNS and every redirect, its Content-Type and its first bytes a picture's or a video's, its
  declared size under the limit (app.storage.fetch.check_url_input reads only the file's start).
- each object-store input (s3, gs, r2, a profile's key): it exists and may be read with this machine's
  credentials, its size is under the limit and its first bytes are a picture's or a video's.
What only the whole file can tell (its real size, that all of it decodes) is app.storage.fetch's to
refuse when the job runs, and every address is checked again then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from engines.errors import InputError, OutputError

from app.storage.uri import UriKind, uri_kind

from .model import is_remote_text

if TYPE_CHECKING:
    from app.storage.fetch_policy import FetchPolicy

    from .model import JobSpec

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
    is made). One-line errors from app.storage.object_target.resolve_output."""
    try:
        from app.storage.object_target import resolve_output
    except ImportError:  # a build without object storage: the upload reports it
        return
    for uri in uris:
        resolve_output(uri)


def fetch_policy(spec: JobSpec) -> FetchPolicy:
    """How this job's inputs may be fetched, when it is queued and when it runs: URLs only if allowed
    when it was queued; the size and time limits of app.storage.fetch."""
    from app.storage.fetch_policy import FetchPolicy

    return FetchPolicy(allow_urls=spec.allow_urls)


def check_url_inputs(spec: JobSpec) -> None:
    """Each http(s) source, target and reference answers from a public address with the start of a
    picture or a video (app.storage.fetch.check_url_input); one-line InputError otherwise."""
    urls = [text for text in [*spec.sources, *spec.targets, *([spec.reference] if spec.reference else [])]
            if "://" in text and uri_kind(text) is UriKind.HTTP]
    if not urls:
        return
    from app.storage.fetch import check_url_input

    policy = fetch_policy(spec)
    for url in dict.fromkeys(urls):
        check_url_input(url, policy=policy)


def check_object_inputs(spec: JobSpec) -> None:
    """Each object-store source, target and reference exists, is readable with the credentials this
    machine has, is under the size limit, and starts as a picture or a video — checked before the job
    is queued, as http(s) inputs are (one HEAD and one ranged read each); one-line InputError otherwise."""
    inputs = [*spec.sources, *spec.targets, *([spec.reference] if spec.reference else [])]
    if not any(is_remote_text(text) for text in inputs):
        return
    from app.storage.fetch import PROBE_BYTES
    from app.storage.head import describe_start, head_kind
    from app.storage.http_answer import too_large
    from app.storage.download import object_start
    from app.storage.object_target import is_object_uri

    uris = [text for text in dict.fromkeys(inputs) if is_remote_text(text) and is_object_uri(text)]
    limit = fetch_policy(spec).max_bytes
    for uri in uris:
        size, start = object_start(uri, PROBE_BYTES)
        if size > limit:
            raise too_large(uri, limit, size)  # the same line as for an http(s) input
        if head_kind(start) is None:
            raise InputError(f"{uri} is not a picture or a video SwapCast can read ({describe_start(start)})",
                             "give the key of the picture or video itself (.mp4, .mov, .png, .jpg…)")
