"""S3: a real protocol health check (list buckets) and a fresh bucket per test."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from testing.services.endpoints import S3Endpoint

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Error(RuntimeError):
    """The S3 endpoint refused or is unreachable; the message carries the reason."""


def client(endpoint: S3Endpoint) -> S3Client:
    """A boto3 S3 client for ``endpoint`` (path-style, bounded timeouts, few retries)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint.endpoint_url,
        aws_access_key_id=endpoint.access_key.get_secret_value(),
        aws_secret_access_key=endpoint.secret_key.get_secret_value(),
        region_name=endpoint.region,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check(endpoint: S3Endpoint) -> list[str]:
    """List buckets; return their names, or raise :class:`S3Error`."""
    try:
        answer = client(endpoint).list_buckets()
    except (BotoCoreError, ClientError) as exc:
        raise S3Error(f"S3 at {endpoint.endpoint_url}: {_reason(exc)}") from None
    return [str(bucket.get("Name")) for bucket in answer.get("Buckets", [])]


def create_bucket(endpoint: S3Endpoint, prefix: str = "t") -> S3Endpoint:
    """Create a uniquely named bucket; return the endpoint that names it."""
    name = f"{prefix}-{secrets.token_hex(6)}"
    try:
        client(endpoint).create_bucket(Bucket=name)
    except (BotoCoreError, ClientError) as exc:
        raise S3Error(
            f"creating bucket {name} at {endpoint.endpoint_url}: {_reason(exc)}"
        ) from None
    return endpoint.with_bucket(name)


def delete_bucket(endpoint: S3Endpoint, name: str) -> int:
    """Empty bucket ``name`` (every object version) and delete it; return objects removed."""
    s3 = client(endpoint)
    removed = 0
    try:
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=name):
            keys = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if keys:
                s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})  # type: ignore[typeddict-item]
                removed += len(keys)
        s3.delete_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return removed
        raise S3Error(f"deleting bucket {name}: {_reason(exc)}") from None
    except BotoCoreError as exc:
        raise S3Error(f"deleting bucket {name}: {_reason(exc)}") from None
    return removed


def bucket_exists(endpoint: S3Endpoint, name: str) -> bool:
    return name in check(endpoint)
