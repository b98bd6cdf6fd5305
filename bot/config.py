"""Settings: config.yaml validated by pydantic, with secrets and deployment URLs from the environment."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"

# Environment variable -> dotted settings key. Environment wins over the file.
ENV_OVERRIDES: dict[str, str] = {
    "TELEGRAM_BOT_TOKEN": "telegram.token",
    "TELEGRAM_WEBHOOK_URL": "telegram.webhook_url",
    "TELEGRAM_WEBHOOK_SECRET": "telegram.webhook_secret",
    "TWILIO_ACCOUNT_SID": "twilio.account_sid",
    "TWILIO_AUTH_TOKEN": "twilio.auth_token",
    "DATABASE_URL": "database.url",
    "VMITRA_SECRET_KEY": "secret_key",
    "VMITRA_PUBLIC_BASE_URL": "http.public_base_url",
    "VMITRA_DATA_DIR": "data_dir",
    "RAZORPAYX_KEY_ID": "rewards.razorpayx.key_id",
    "RAZORPAYX_KEY_SECRET": "rewards.razorpayx.key_secret",
    "RAZORPAYX_WEBHOOK_SECRET": "rewards.razorpayx.webhook_secret",
}


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s|ms)")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: Any) -> timedelta:
    """'7d', '4h', '30m', '10s', '1d12h', '500ms' or a number of seconds, as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text and _DURATION_PART.sub("", text) == "":
            total = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
            return timedelta(seconds=total)
    raise ValueError("must be a duration such as 7d, 4h, 30m, 10s or a number of seconds")


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(lambda d: f"{d.total_seconds():g}s", return_type=str)
]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the bad key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/vmitra.db"
    echo: bool = False
    pool_size: int = Field(10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class BoundingBox(_Section):
    min_lat: float = Field(ge=-90, le=90)
    max_lat: float = Field(ge=-90, le=90)
    min_lon: float = Field(ge=-180, le=180)
    max_lon: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> BoundingBox:
        if self.min_lat >= self.max_lat or self.min_lon >= self.max_lon:
            raise ValueError("min_lat/min_lon must be below max_lat/max_lon")
        return self

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


class ServiceAreaSettings(_Section):
    bounding_box: BoundingBox = BoundingBox(min_lat=21.0, max_lat=25.5, min_lon=77.9, max_lon=83.0)
    districts: list[str] = Field(default_factory=list)
    # GeoJSON FeatureCollection of district boundaries (bot/service_area.py); None: the bounding box alone.
    boundaries_file: Path | None = None
    district_property: str = Field("district", min_length=1)

    @field_validator("boundaries_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _districts_for_boundaries(self) -> ServiceAreaSettings:
        if self.boundaries_file is not None and not self.districts:
            raise ValueError("districts must list the served districts when boundaries_file is set")
        return self


class NearbySettings(_Section):
    radius_m: int = Field(750, gt=0, le=5000)
    max_radius_m: int = Field(5000, gt=0, le=20000)
    page_size: int = Field(10, ge=1, le=50)


class TelegramSettings(_Section):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str | None = None
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr | None = None
    poll_timeout_s: int = Field(30, ge=0, le=60)
    connection_pool_size: int = Field(16, ge=1, le=1024)


class TwilioSettings(_Section):
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    api_base_url: str | None = None
    webhook_path: str = "/twilio/whatsapp"
    max_send_attempts: int = Field(5, ge=1, le=20)


class WhatsAppTemplates(_Section):
    """Content SIDs (HX...) of approved templates, one per kind of pushed message."""

    status_update: str | None = None
    officer_assignment: str | None = None
    reward_update: str | None = None
    generic: str | None = None


class WhatsAppSettings(_Section):
    from_number: str | None = None
    messaging_service_sid: str | None = None
    session_window_hours: float = Field(24, gt=0, le=24)
    media_url_ttl_s: int = Field(3600, ge=60, le=7 * 24 * 3600)
    templates: WhatsAppTemplates = WhatsAppTemplates()


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_base_url: str | None = None
    max_upload_bytes: int = Field(12 * 1024 * 1024, gt=0)


class WebchatSettings(_Section):
    enabled: bool = True
    demo_consumers: int = Field(20_000, ge=0, le=1_000_000)
    demo_seed: int = 2025
    session_days: int = Field(30, ge=1, le=365)
    long_poll_s: int = Field(25, ge=1, le=120)
    outbox_messages: int = Field(200, ge=10, le=10_000)


class PhotoSettings(_Section):
    dir: str = "photos"
    max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_pixels: int = Field(40_000_000, gt=0)
    min_side_px: int = Field(64, gt=0)
    min_per_complaint: int = Field(1, ge=0)
    max_per_complaint: int = Field(5, ge=1, le=10)
    retention: Duration = timedelta(days=730)


class ComplaintSettings(_Section):
    id_prefix: str = Field("VM", pattern=r"^[A-Z]{1,6}$")


class SlaSettings(_Section):
    accept_within: Duration = timedelta(hours=4)
    complete_within: Duration = timedelta(days=7)
    remind_every: Duration = timedelta(hours=4)
    escalate_after_reminders: int = Field(1, ge=0, le=10)
    sweep_every: Duration = timedelta(minutes=1)


class NotifierSettings(_Section):
    telegram_per_second: float = Field(29.0, gt=0, le=1000)
    telegram_per_chat_interval: Duration = timedelta(seconds=1)
    whatsapp_per_second: float = Field(50.0, gt=0, le=1000)
    whatsapp_per_chat_interval: Duration = timedelta(seconds=0)
    webchat_per_second: float = Field(1000.0, gt=0)
    poll_every: Duration = timedelta(seconds=1)
    max_attempts: int = Field(10, ge=1, le=100)


class AbuseSettings(_Section):
    max_complaints_per_day: int = Field(5, ge=1, le=1000)
    min_gap_between_complaints: Duration = timedelta(minutes=5)
    webhook_requests_per_minute: int = Field(6000, ge=1)


class HelplineSettings(_Section):
    phone: str = "1912"
    nidaan_url: str = "https://www.mpeznidaan.in"


class DialogSettings(_Section):
    default_language: Literal["en", "hi"] = "en"
    workers: int = Field(32, ge=1, le=1024)


class SlabSettings(_Section):
    """One category's reward: fixed_paise plus percent of the assessed amount, kept within min..max."""

    fixed_paise: int = Field(0, ge=0)
    percent: Decimal = Field(Decimal(0), ge=0, le=100, decimal_places=2)
    min_paise: int = Field(0, ge=0)
    max_paise: int = Field(5_000_000, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> SlabSettings:
        if self.min_paise > self.max_paise:
            raise ValueError("min_paise must not be above max_paise")
        return self

    @property
    def basis_points(self) -> int:
        """The percentage in hundredths of a percent (10% -> 1000), so the arithmetic stays integer."""
        return int(self.percent * 100)


def _default_slabs() -> dict[str, SlabSettings]:
    def slab(percent: int, min_rupees: int, max_rupees: int) -> SlabSettings:
        return SlabSettings(percent=Decimal(percent), min_paise=min_rupees * 100, max_paise=max_rupees * 100)

    return {
        "theft": slab(10, 100, 50_000),
        "illegal_connection": slab(10, 100, 50_000),
        "meter_tampering": slab(10, 100, 50_000),
        "illegal_extension": slab(5, 50, 25_000),
        "unauthorised_extension": slab(5, 50, 25_000),
        "multiple_connections": slab(5, 50, 25_000),
        "excess_load": slab(2, 10, 10_000),
        "default": slab(5, 10, 10_000),
    }


class BankFileSettings(_Section):
    dir: str = "payouts"
    payment_mode: Literal["NEFT", "IMPS"] = "NEFT"
    debit_account: str | None = None


class RazorpayXSettings(_Section):
    base_url: str = "https://api.razorpay.com"
    account_number: str | None = None
    key_id: str | None = None
    key_secret: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/razorpayx/webhook"
    mode: Literal["IMPS", "NEFT", "RTGS"] = "IMPS"
    timeout: Duration = timedelta(seconds=20)
    poll_every: Duration = timedelta(minutes=5)


class RewardSettings(_Section):
    appeal_window: Duration = timedelta(days=7)
    sweep_every: Duration = timedelta(minutes=1)
    resume_after: Duration = timedelta(minutes=2)
    retry_after: Duration = timedelta(minutes=1)
    concurrency: int = Field(4, ge=1, le=64)
    cap_paise: int = Field(5_000_000, ge=0)
    provider: Literal["bank-file", "razorpayx"] = "bank-file"
    slabs: dict[str, SlabSettings] = Field(default_factory=_default_slabs)
    bank_file: BankFileSettings = BankFileSettings()
    razorpayx: RazorpayXSettings = RazorpayXSettings()

    @model_validator(mode="after")
    def _consistent(self) -> RewardSettings:
        if "default" not in self.slabs:
            raise ValueError("slabs needs a 'default' slab for categories without their own")
        for name, slab in self.slabs.items():
            if slab.max_paise > self.cap_paise:
                raise ValueError(f"slabs.{name}.max_paise is above cap_paise")
        if self.provider == "razorpayx" and self.resume_after <= self.razorpayx.timeout:
            raise ValueError("resume_after must be longer than razorpayx.timeout")
        return self


class Settings(BaseSettings):
    """Every setting of the bot; see config.yaml for what each one means."""

    model_config = SettingsConfigDict(extra="forbid")

    data_dir: Path = Path("data")
    secret_key: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database: DatabaseSettings = DatabaseSettings()
    service_area: ServiceAreaSettings = ServiceAreaSettings()
    nearby: NearbySettings = NearbySettings()
    telegram: TelegramSettings = TelegramSettings()
    twilio: TwilioSettings = TwilioSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    http: HttpSettings = HttpSettings()
    webchat: WebchatSettings = WebchatSettings()
    photos: PhotoSettings = PhotoSettings()
    complaints: ComplaintSettings = ComplaintSettings()
    helpline: HelplineSettings = HelplineSettings()
    sla: SlaSettings = SlaSettings()
    abuse: AbuseSettings = AbuseSettings()
    notifier: NotifierSettings = NotifierSettings()
    dialog: DialogSettings = DialogSettings()
    rewards: RewardSettings = RewardSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the merged dict handed to the constructor counts: load_settings builds it
        # from the YAML file and the explicit ENV_OVERRIDES map.
        return (init_settings,)

    @property
    def photo_dir(self) -> Path:
        path = Path(self.photos.dir)
        return path if path.is_absolute() else self.data_dir / path


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[leaf] = value


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling against config.yaml)"
    shown = "" if error["type"] in ("extra_forbidden", "missing") else f" (got {error.get('input')!r})"
    return f"{key}: {message}{shown}"


def load_settings(path: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the YAML file, apply environment overrides, validate; raise ConfigError with a clear message."""
    config_path = Path(path) if path else DEFAULT_CONFIG_PATH
    env = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    if path and not config_path.exists():
        raise ConfigError(f"{config_path}: file not found")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of settings")
    for env_name, dotted in ENV_OVERRIDES.items():
        value = env.get(env_name)
        if value:
            _set_dotted(raw, dotted, value)
    try:
        return Settings(**raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"{config_path}: invalid setting: {problems}") from None
