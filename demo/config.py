"""Demo settings, read from the environment.

The names match what the in-cluster Jobs and the dashboard Deployment receive
(``ICEBERG_CATALOG_URL``, ``S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), so the same
code runs locally and in the cluster. Secrets stay ``SecretStr`` until the catalog is built.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from demo.errors import ConfigError

DEFAULT_SCALE = 1000
DEFAULT_SEED = 20260101
#: The SQL catalog scopes tables by catalog name: every reader must use the same one.
CATALOG_NAME = "demo"


class DemoSettings(BaseSettings):
    """Where the catalog and the data files live, how much data to make, how long to keep it."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    catalog_url: SecretStr = Field(alias="ICEBERG_CATALOG_URL")
    warehouse: str = Field(default="s3://warehouse/demo", alias="DEMO_WAREHOUSE")
    s3_endpoint: str | None = Field(default=None, alias="S3_ENDPOINT_URL")
    s3_access_key: SecretStr | None = Field(default=None, alias="AWS_ACCESS_KEY_ID")
    s3_secret_key: SecretStr | None = Field(default=None, alias="AWS_SECRET_ACCESS_KEY")
    s3_region: str = Field(default="us-east-1", alias="AWS_REGION")
    scale: int = Field(default=DEFAULT_SCALE, alias="DEMO_SEED_SCALE", ge=20, le=5_000_000)
    seed: int = Field(default=DEFAULT_SEED, alias="DEMO_SEED")
    namespace_suffix: str = Field(
        default="", alias="DEMO_NAMESPACE_SUFFIX", pattern=r"^[a-z0-9_]*$"
    )
    retention_hours: float = Field(default=168.0, alias="DEMO_RETENTION_HOURS", ge=0)
    retain_last: int = Field(default=5, alias="DEMO_RETAIN_LAST", ge=1)
    #: The run's idempotency key. A retry with the same id (a Job's next pod: the Jobs set
    #: it to their own uid) replaces what an interrupted attempt wrote, instead of adding to it.
    run_id: str | None = Field(
        default=None, alias="DEMO_RUN_ID", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    )

    @field_validator("warehouse")
    @classmethod
    def _s3_or_file(cls, value: str) -> str:
        if not value.startswith(("s3://", "file://")):
            raise ValueError("must be an s3:// (or file://) URI")
        return value.rstrip("/")

    def catalog_properties(self) -> dict[str, str]:
        """PyIceberg SqlCatalog properties; the only place secrets are unwrapped."""
        props = {
            "uri": self.catalog_url.get_secret_value(),
            "warehouse": self.warehouse,
            "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
            "s3.region": self.s3_region,
            "init_catalog_tables": "true",
            # A pooled connection is checked before use: after PostgreSQL restarts, the
            # dashboard's next request gets a new connection instead of an error.
            "pool_pre_ping": "true",
        }
        if self.s3_endpoint:
            props["s3.endpoint"] = self.s3_endpoint
        if self.s3_access_key and self.s3_secret_key:
            props["s3.access-key-id"] = self.s3_access_key.get_secret_value()
            props["s3.secret-access-key"] = self.s3_secret_key.get_secret_value()
        return props


def load_settings(**overrides: object) -> DemoSettings:
    """Read settings from the environment, turning validation errors into one readable line."""
    try:
        return DemoSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"demo configuration is invalid ({problems}); set ICEBERG_CATALOG_URL "
            "(postgresql+psycopg://user:pass@host:port/db) and the S3_*/AWS_* variables"
        ) from None
