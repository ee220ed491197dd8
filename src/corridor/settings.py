"""Settings from the environment (CORRIDOR_*), read once per process."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a Corridor deployment; defaults give the embedded single-machine setup."""

    model_config = SettingsConfigDict(env_prefix="CORRIDOR_", extra="ignore")

    database_url: str = "sqlite:///corridor.db"
    nats_url: str | None = None            # set => ingest goes through NATS JetStream
    mqtt_url: str | None = None            # e.g. mqtt://127.0.0.1:1883 => serve consumes positions
    admin_key: str | None = None           # bootstrap administrator key chosen by the deployment
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    max_body_bytes: int = 10 * 1024 * 1024
    rate_limit_per_minute: int = 600
    timetable_days: int = 400
    webhook_allow_private: bool = False    # callbacks to loopback/private/link-local hosts (tests, self-hosted)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
