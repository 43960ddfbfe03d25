"""Where the PostgreSQL and S3 services are, and with which credentials.

Endpoints come from the environment (``POSTGRES_URL``; ``S3_ENDPOINT_URL`` with
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), which the local launcher, CI or
a developer sets. Secrets are held as ``SecretStr`` so they never show up in a
repr, a log line or a pytest report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

POSTGRES_URL_ENV = "POSTGRES_URL"
S3_ENDPOINT_ENV = "S3_ENDPOINT_URL"
S3_ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
S3_SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - the variable's name, not a secret
S3_REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
DEFAULT_REGION = "us-east-1"

#: What to run when a service is missing (shown by the health checks).
START_HINT = (
    "start local servers with `python -m testing.services up` and export the variables it "
    "prints, or run `nox -s integration` (it starts and stops them itself)"
)


class EndpointError(ValueError):
    """A service endpoint variable is missing or malformed."""


@dataclass(frozen=True)
class PostgresEndpoint:
    """One PostgreSQL database and the credentials to reach it."""

    host: str
    port: int
    user: str
    password: SecretStr
    dbname: str

    @property
    def dsn(self) -> SecretStr:
        """``postgresql://user:pass@host:port/dbname`` (secret, because it holds the password)."""
        return SecretStr(
            f"postgresql://{quote(self.user, safe='')}:"
            f"{quote(self.password.get_secret_value(), safe='')}"
            f"@{self.host}:{self.port}/{quote(self.dbname, safe='')}"
        )

    def with_database(self, dbname: str) -> PostgresEndpoint:
        return replace(self, dbname=dbname)

    def __str__(self) -> str:
        return f"postgresql://{self.user}:***@{self.host}:{self.port}/{self.dbname}"

    @classmethod
    def from_url(cls, url: str) -> PostgresEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise EndpointError(
                f"{POSTGRES_URL_ENV} must look like postgresql://user:pass@host:port/dbname"
            )
        return cls(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=SecretStr(unquote(parts.password or "")),
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
        )


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible endpoint, its credentials, and (per test) one bucket."""

    endpoint_url: str
    access_key: SecretStr
    secret_key: SecretStr
    region: str = DEFAULT_REGION
    bucket: str = ""

    def with_bucket(self, bucket: str) -> S3Endpoint:
        return replace(self, bucket=bucket)

    def __str__(self) -> str:
        return f"s3 {self.endpoint_url}" + (f" bucket {self.bucket}" if self.bucket else "")


#: Endpoint variables handed to this process alone (the run's ``--local-services``). They
#: are read like the environment but never written to ``os.environ``, so no child process
#: (kwokctl, kubectl, go, a browser) inherits the passwords in them.
_GIVEN: dict[str, str] = {}


def use_in_this_process(variables: Mapping[str, str]) -> None:
    """Make ``variables`` visible to the ``*_from_env`` readers of this process only."""
    _GIVEN.clear()
    _GIVEN.update(variables)


def given_to_this_process() -> dict[str, str]:
    return dict(_GIVEN)


def _variables(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return {**os.environ, **_GIVEN} if environ is None else environ


def postgres_from_env(environ: Mapping[str, str] | None = None) -> PostgresEndpoint | None:
    env = _variables(environ)
    url = env.get(POSTGRES_URL_ENV)
    return PostgresEndpoint.from_url(url) if url else None


def s3_from_env(environ: Mapping[str, str] | None = None) -> S3Endpoint | None:
    env = _variables(environ)
    url = env.get(S3_ENDPOINT_ENV)
    if not url:
        return None
    access, secret = env.get(S3_ACCESS_KEY_ENV), env.get(S3_SECRET_KEY_ENV)
    if not access or not secret:
        raise EndpointError(
            f"{S3_ENDPOINT_ENV} is set but {S3_ACCESS_KEY_ENV}/{S3_SECRET_KEY_ENV} are not"
        )
    region = next((env[name] for name in S3_REGION_ENVS if env.get(name)), DEFAULT_REGION)
    return S3Endpoint(url, SecretStr(access), SecretStr(secret), region)


def postgres_env(endpoint: PostgresEndpoint) -> dict[str, str]:
    """The variables that make :func:`postgres_from_env` find ``endpoint``."""
    return {POSTGRES_URL_ENV: endpoint.dsn.get_secret_value()}


def s3_env(endpoint: S3Endpoint) -> dict[str, str]:
    return {
        S3_ENDPOINT_ENV: endpoint.endpoint_url,
        S3_ACCESS_KEY_ENV: endpoint.access_key.get_secret_value(),
        S3_SECRET_KEY_ENV: endpoint.secret_key.get_secret_value(),
        "AWS_REGION": endpoint.region,
    }
