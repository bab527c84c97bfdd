"""The boto3 S3 client for an ObjectTarget (retries, timeouts, path-style addressing for custom endpoints)
and `storage_error`: what went wrong talking to the store, as one line (unknown bucket, denied,
unreachable, clock skew), fatal or worth retrying."""

from __future__ import annotations

from engines.errors import InputError, OutputError, SwapCastError, TransientError

from .object_target import ObjectTarget, check_endpoint, session_for

CONCURRENCY = 4  # parts sent at once by an upload; the client's pool holds twice that


def client_for(target: ObjectTarget):  # noqa: ANN201 — boto3 types are not installed
    from botocore.config import Config

    check_endpoint(target.endpoint, target.allow_http, target.uri)
    config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=60,
                    s3={"addressing_style": "path" if target.endpoint else "auto"},
                    signature_version="s3v4", max_pool_connections=CONCURRENCY * 2,
                    # S3-compatible stores (R2, GCS, SeaweedFS) differ on the newer default CRC checksums;
                    # integrity is checked here with Content-MD5 and the ETag instead.
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    return session_for(target).client("s3", endpoint_url=target.endpoint, region_name=target.region or "us-east-1",
                                      config=config)


def storage_error(error: BaseException, target: ObjectTarget, action: str,
                  *, as_input: bool = False) -> SwapCastError:
    """One line for what went wrong talking to the store: unknown bucket, denied, unreachable, clock skew."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    fatal = InputError if as_input else OutputError
    where = target.endpoint or "AWS S3"
    if isinstance(error, SwapCastError):
        return error
    if isinstance(error, NoCredentialsError):
        return fatal(f"{action} {target.address}: no storage credentials found",
                     "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a credentials profile)")
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        return TransientError(f"{action} {target.address}: cannot reach the storage endpoint {where}",
                              "check the endpoint URL and the network")
    if isinstance(error, ReadTimeoutError):
        return TransientError(f"{action} {target.address}: the storage endpoint {where} stopped answering",
                              "try again; check the network")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NoSuchBucket":
            return fatal(f"{action} {target.address}: bucket '{target.bucket}' does not exist at {where}",
                         "create it, or fix the bucket name")
        if code in ("RequestTimeTooSkewed", "RequestExpired") or "skew" in str(error).lower():
            return fatal(f"{action} {target.address}: this computer's clock differs from the store's too much "
                         "(requests are refused)", "set the clock right (NTP) and try again")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden", "AllAccessDisabled",
                    "InvalidToken", "ExpiredToken") or status == 403:
            reason = {"InvalidAccessKeyId": "the access key is not known to the store",
                      "SignatureDoesNotMatch": "the secret key does not match the access key",
                      "ExpiredToken": "the session token has expired"}.get(code, "the credentials may not do this")
            return fatal(f"{action} {target.address}: access denied ({reason})",
                         "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the key's permissions on the bucket")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return fatal(f"{action} {target.address}: no such object", "check the key (and the prefix)")
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
            return TransientError(f"{action} {target.address}: the store answered {code or status}", "try again later")
        return fatal(f"{action} {target.address}: the store refused it ({code or status})",
                     "check the bucket, key and credentials")
    return TransientError(f"{action} {target.address}: {type(error).__name__}: {error}".splitlines()[0],
                          "try again; check the endpoint")
