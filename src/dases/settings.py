"""Node configuration.

Read from `DASES_*` environment variables, or from a TOML file named by `DASES_CONFIG`
(environment variables win over the file). One `Settings` object is built per node and passed
down explicitly: nothing reads the environment after start-up.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dases.errors import ConfigurationError

#: Upper bound the data space puts on a service-to-service token's lifetime.
MAX_TOKEN_LIFETIME_SECONDS = 300


class Settings(BaseSettings):
    """Everything a node needs to start; defaults give an embedded node on SQLite."""

    model_config = SettingsConfigDict(env_prefix="DASES_", extra="forbid")

    data_dir: Path = Field(default=Path("./dases-data"), description="Where the embedded database and node secret live.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite file under data_dir when unset.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None,
        description="Base URL other nodes reach this node at; did:web identifiers derive from it.",
    )
    node_secret: SecretStr | None = Field(
        default=None,
        description="Encrypts participants' private keys at rest. Generated into data_dir when unset.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the node's admin routes (onboarding, revocation). Admin routes refuse every call when unset.",
    )
    governance_authority: str | None = Field(
        default=None,
        description="Slug of the hosted participant that onboards members and signs membership credentials (operator node).",
    )
    membership_validity_days: int = Field(default=365, gt=0, le=3650)
    token_lifetime_seconds: int = Field(default=120, gt=0, le=MAX_TOKEN_LIFETIME_SECONDS)
    replay_store: Literal["memory", "database"] = Field(
        default="memory",
        description="Where used call-token ids are kept: per process (no I/O) or in the database (shared by workers).",
    )
    clock_skew_seconds: int = Field(default=30, ge=0, le=120)
    did_cache_seconds: float = Field(default=300.0, ge=0)
    did_refresh_seconds: float = Field(
        default=1.0, ge=0, description="Least time between refetches of a DID document when a call names an unknown key."
    )
    did_cache_size: int = Field(default=1024, gt=0)
    did_resolution_timeout_seconds: float = Field(default=5.0, gt=0)
    allow_http_did_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description="Hosts whose did:web documents may be fetched over plain HTTP (loopback only by default).",
    )
    dsp_schema_dir: Path | None = Field(
        default=None,
        description="Directory of the Dataspace Protocol JSON Schemas; when set, every DSP message sent and received is validated against them.",
    )
    dpv_dir: Path | None = Field(
        default=None,
        description="Directory of the W3C DPV Turtle files (purposes); the consent service refuses requests naming purposes until it is set.",
    )
    consent_age: int = Field(
        default=15, ge=13, le=16, description="Age under which a learner's consent is given by a guardian (GDPR art. 8; 15 in France)."
    )
    consent_max_days: int = Field(default=395, gt=0, le=3650, description="Longest validity of a consent; it must be given again after.")
    consent_sweep_seconds: float = Field(
        default=30.0, gt=0, description="How often expired consents are marked and pending notifications sent."
    )
    consent_link_code_hours: int = Field(default=72, gt=0, le=24 * 30, description="How long an account link code stays usable.")
    consent_service: str | None = Field(
        default=None,
        description="DID of the data space's consent service: consent notifications signed by anyone else are refused.",
    )
    catalog_crawl_seconds: float = Field(
        default=300.0, ge=0, description="How often the operator's node crawls the members' DSP catalogs (0: never)."
    )
    negotiation_timeout_seconds: float = Field(default=300.0, gt=0, description="A negotiation that does not move for this long is terminated.")
    negotiation_auto_finalize: bool = Field(
        default=True,
        description="As provider, finalize as soon as the consumer has verified; when off, the provider's operator finalizes (POST .../finalize).",
    )
    negotiation_sweep_seconds: float = Field(default=10.0, gt=0, description="How often stale negotiations are looked for.")
    status_list_cache_seconds: float = Field(default=30.0, ge=0)
    lrs_basic_auth: SecretStr | None = Field(
        default=None,
        description="user:password accepted by HTTP Basic on the standalone LRS (`dases lrs serve`), with every scope.",
    )
    lrs_default_version: Literal["1.0.3", "2.0.0"] = Field(
        default="2.0.0",
        description="The xAPI version named in answers to requests that state none (About, and the 400 such requests get).",
    )
    lrs_consistency_seconds: float = Field(
        default=1.0, ge=0, le=60,
        description="How far behind now X-Experience-API-Consistent-Through lags: longer than any write transaction.",
    )
    log_level: str = "info"

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("DASES_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigurationError(f"DASES_CONFIG names {config_file}, which is not a readable file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def base_url(self) -> str:
        """The URL this node is reached at, from `public_url` or host and port."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dases.sqlite3').resolve()}"

    def resolved_node_secret(self) -> bytes:
        """The node secret: from settings, else a random one kept in data_dir (mode 0600)."""
        if self.node_secret is not None:
            return self.node_secret.get_secret_value().encode()
        path = self.data_dir / "node.secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip().encode()


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment / TOML file, with explicit overrides on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
