"""The URLs people paste into `git clone`, from the settings (never a request's Host)."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.settings import Settings
from repos.models import Repository


def https_clone_url(settings: Settings, repository: Repository) -> str:
    return f"{settings.base_url.rstrip('/')}/{repository.path_name}"


def ssh_clone_url(settings: Settings, repository: Repository) -> str:
    """git@HOST:~owner/name, or ssh://git@HOST:PORT/~owner/name off port 22."""
    host = settings.ssh_host or urlsplit(settings.base_url).hostname or "localhost"
    if settings.ssh_port != 22:
        return f"ssh://{settings.ssh_user}@{host}:{settings.ssh_port}/{repository.path_name}"
    return f"{settings.ssh_user}@{host}:{repository.path_name}"


def commit_url(settings: Settings, repository: Repository, sha: str) -> str:
    return f"{https_clone_url(settings, repository)}/commit/{sha}"


def clone_urls(settings: Settings, repository: Repository) -> tuple[str, str]:
    """(https, ssh)."""
    return https_clone_url(settings, repository), ssh_clone_url(settings, repository)
