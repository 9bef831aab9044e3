"""One typed settings object, read once from the environment and an optional TOML file.

Nothing else in Mailyard reads the environment: code receives a `Settings` (or calls
`get_settings()`), so tests can build their own without touching `os.environ`.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from kombu import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from core.errors import UserError

PREFIX = "MAILYARD_"


class SettingsError(UserError):
    """A setting has a value Mailyard cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./mailyard-data")
    database_url: str = ""
    broker_url: str = ""
    domain: str = "lists.localhost"
    base_url: str = "http://127.0.0.1:8080"
    smtp_listen: str = "127.0.0.1:2525"
    lmtp_listen: str = ""
    # Authenticated submission (RFC 6409): AUTH with a username and an API token, then
    # mail to the lists here and, through the outbox, to anyone. Empty to disable.
    submission_listen: str = "127.0.0.1:2587"
    # A certificate and its key (PEM) turn on STARTTLS on the submission port; without
    # them AUTH is offered only to clients on the loopback interface.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Where mail to postmaster@ and abuse@ the domain goes (addresses, comma-separated);
    # empty: the site admins' primary addresses.
    operator_address: str = ""
    http_listen: str = "127.0.0.1:8080"
    # Hosted git repositories (`repos/`): where the bare repositories live (empty:
    # repos/ in the data directory), and what SSH clone URLs name: git@HOST, where HOST
    # is the base URL's host unless set, and the port when it is not 22.
    repos_dir: str = ""
    ssh_user: str = "git"
    ssh_host: str = ""
    ssh_port: int = 22
    relay_url: str = "smtp://127.0.0.1:25"
    # Outgoing list mail is DKIM-signed when this key exists (`mailyard dkim genkey`);
    # empty means dkim.pem in the data directory.
    dkim_key_file: str = ""
    dkim_selector: str = "mailyard"
    # Domains (comma-separated) whose mail this instance may send, besides its own: their
    # SPF and DKIM name it. Mail sent for a user of another domain is From
    # "Name via Mailyard" with Reply-To them (`mail.on_behalf`).
    sender_domains: str = ""
    # An undeliverable copy is retried this long (seconds), then reported to the owner.
    delivery_give_up_after: int = 2 * 24 * 3600
    # A worker sending a row holds it this long past its last progress (seconds); the
    # row of a worker that died is sent by another once the hold runs out.
    delivery_claim_seconds: int = 300
    secret_key: str = ""
    max_message_size: int = 10 * 1024 * 1024
    web_workers: int = 2
    # How many reverse proxies in front of the web UI set X-Forwarded-For/-Proto/-Prefix
    # (werkzeug's ProxyFix); 0 believes none of those headers. Absolute URLs are built
    # from base_url either way, never from a Host header.
    trusted_proxies: int = 0
    worker_concurrency: int = 1
    # Celery runs tasks inline in the calling process; tests and `import-mbox` use it.
    tasks_eager: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_INT_FIELDS = {
    "max_message_size",
    "web_workers",
    "trusted_proxies",
    "worker_concurrency",
    "delivery_give_up_after",
    "delivery_claim_seconds",
    "ssh_port",
}
_BOOL_FIELDS = {"tasks_eager"}
# Counts of processes and sizes: zero or less would start nothing that works.
_AT_LEAST_ONE = ("web_workers", "worker_concurrency", "max_message_size")


def _coerce(name: str, value: Any) -> Any:
    """`value` (from the TOML file or the environment) as the type of the field `name`."""
    if name == "data_dir":
        return Path(str(value))
    if name in _INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(
                f"{PREFIX}{name.upper()} must be an integer, got {value!r}"
            ) from None
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    return str(value)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: the process environment) over the TOML file.

    The TOML file is `$MAILYARD_CONFIG`, else `mailyard.toml` in the data directory.
    """
    env = dict(os.environ if environ is None else environ)
    names = {f.name for f in fields(Settings)} - {"extra"}
    values: dict[str, object] = {}
    from_env = {k[len(PREFIX) :].lower(): v for k, v in env.items() if k.startswith(PREFIX)}
    data_dir = Path(from_env.get("data_dir", "./mailyard-data"))
    config_path = Path(from_env["config"]) if "config" in from_env else data_dir / "mailyard.toml"
    if config_path.is_file():
        try:
            with open(config_path, "rb") as f:
                values.update({k.lower(): v for k, v in tomllib.load(f).items()})
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{config_path}: {e}") from None
    values.update(from_env)
    unknown = set(values) - names - {"config"}
    extra = {k: values.pop(k) for k in unknown}
    values.pop("config", None)
    settings = Settings(**{k: _coerce(k, v) for k, v in values.items()}, extra=extra)
    return validate(complete(settings))


def complete(settings: Settings) -> Settings:
    """Fill the defaults that depend on the data directory."""
    data_dir = settings.data_dir.resolve()
    changes: dict[str, Any] = {"data_dir": data_dir}
    if not settings.database_url:
        changes["database_url"] = f"sqlite:///{data_dir / 'mailyard.db'}"
    if not settings.broker_url:
        changes["broker_url"] = f"sqla+sqlite:///{data_dir / 'queue.db'}"
    if not settings.dkim_key_file:
        changes["dkim_key_file"] = str(data_dir / "dkim.pem")
    if not settings.repos_dir:
        changes["repos_dir"] = str(data_dir / "repos")
    return replace(settings, **changes)


def secret_key(settings: Settings) -> str:
    """The configured secret key, else one generated once into the data directory.

    Many processes may ask at once (gunicorn's workers on a fresh data directory). The
    key is written whole into a temporary file and then linked to its name, which fails
    if another process got there first: a reader never sees a half-written key, and
    every process ends up with the one key that won.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process published its key first; that one is the key
        finally:
            temporary.unlink()
    return path.read_text().strip()


def parse_listen(value: str, setting: str = "listen address") -> tuple[str, int] | str | None:
    """'host:port' -> (host, port); 'unix:/path' -> '/path'; '' -> None. Port 0 asks the
    system for a free port (the tests run every server so)."""
    value = value.strip()
    if not value:
        return None
    if value.startswith("unix:"):
        return value[5:]
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(
            f"{setting} must be host:port with a port from 0 (any free port) to 65535,"
            f" or unix:/path; got {value!r}"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def listen_settings(settings: Settings) -> dict[str, str]:
    """Every `*_listen` setting by its variable name: one added later is checked too."""
    return {
        f"{PREFIX}{f.name.upper()}": getattr(settings, f.name)
        for f in fields(settings)
        if f.name.endswith("_listen")
    }


def validate(settings: Settings) -> Settings:
    """Refuse, naming the setting, a value no part of Mailyard could use: at load, so a
    mistake ends the command before anything starts."""
    for name, value in listen_settings(settings).items():
        parse_listen(value, name)
    for name in _AT_LEAST_ONE:
        if getattr(settings, name) < 1:
            raise SettingsError(
                f"{PREFIX}{name.upper()} must be at least 1, got {getattr(settings, name)}"
            )
    if not 0 < settings.ssh_port < 65536:
        raise SettingsError(f"{PREFIX}SSH_PORT must be a port (1-65535), got {settings.ssh_port}")
    try:
        make_url(settings.database_url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ImportError) as e:
        raise SettingsError(
            f"{PREFIX}DATABASE_URL is not a database URL Mailyard can use"
            f" (sqlite:///path or postgresql+psycopg://...): {str(e).splitlines()[0]}"
        ) from None
    try:
        Connection(settings.broker_url)  # resolves the transport; connects to nothing
    except (KeyError, ValueError) as e:
        raise SettingsError(
            f"{PREFIX}BROKER_URL is not a broker URL Mailyard can use"
            f" (sqla+sqlite:///path, redis://... or amqp://...): {e.args[0] if e.args else e}"
        ) from None
    return settings


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def use_settings(settings: Settings) -> Settings:
    """Make `settings` the process-wide settings (the CLI and tests call this)."""
    global _current
    _current = complete(settings)
    return _current
