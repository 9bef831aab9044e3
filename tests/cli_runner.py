"""The `mailyard` command run in-process with click's CliRunner, as a subprocess would
run it: the same MAILYARD_* environment as `ServedMailyard.cli`, stdin, and stdout and
stderr apart, without a Python start and a second import of everything (~1 s a command).

What stays true of a real process:

- an exception the CLI does not turn into a one-line error is raised into the test, so
  it fails the test instead of ending as a traceback in `stderr`;
- warnings shown by Python's default filters, and log records of WARNING and above
  (which a process without logging set up prints through `logging.lastResort`), are
  written to `stderr`, where "one line, no traceback" checks see them;
- the settings the CLI's root callback made current are replaced again by the test's.

Commands that need a real process (`serve`, signals, a stdin that is a real pipe, the
installed entry point) keep using `ServedMailyard.cli` or `subprocess`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass

from click.testing import CliRunner

from core.settings import Settings, get_settings, use_settings
from mailyard.cli import cli
from tests.served import ServedMailyard


@dataclass(frozen=True)
class CliResult:
    """What the tests read of a `subprocess.CompletedProcess`."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def cli_env(settings: Settings) -> dict[str, str | None]:
    """The MAILYARD_* variables `ServedMailyard.cli` gives its child; any other MAILYARD_*
    variable of this process is unset for the run, as the child does not get it."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MAILYARD_")}
    served = ServedMailyard(settings).env
    env.update({k: v for k, v in served.items() if k.startswith("MAILYARD_")})
    return env


class MailyardCli:
    """`mailyard *prefix *args` on the test's settings: `MailyardCli(settings, "user")`."""

    def __init__(self, settings: Settings, *prefix: str) -> None:
        self.env = cli_env(settings)
        self.prefix = prefix

    def __call__(self, *args: str, input: str | None = None) -> CliResult:
        argv = (*self.prefix, *args)
        before = get_settings()
        celery_was_configured = _celery_configured()
        root, to_stderr = logging.getLogger(), _CurrentStderr(logging.WARNING)
        root.addHandler(to_stderr)
        try:
            with warnings.catch_warnings(record=True) as caught:
                _python_default_warning_filters()
                result = CliRunner().invoke(
                    cli,
                    list(argv),
                    input=input,
                    env=self.env,
                    prog_name="mailyard",
                    catch_exceptions=False,
                )
        finally:
            root.removeHandler(to_stderr)
            use_settings(before)
        assert result.exception is None or isinstance(result.exception, SystemExit), argv
        assert celery_was_configured or not _celery_configured(), (
            f"`mailyard {' '.join(argv)}` configured Celery in this process from the CLI's "
            "settings (tasks not eager, the CLI's broker): run it in a subprocess"
        )
        stderr = result.stderr + "".join(
            warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
            for w in caught
        )
        return CliResult(argv, result.exit_code, result.stdout, stderr)


class _CurrentStderr(logging.Handler):
    """Like `logging.lastResort`, which prints a process's records when nothing set up
    logging: to whatever `sys.stderr` is at the time (here, the CliRunner's)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001
            self.handleError(record)


def _python_default_warning_filters() -> None:
    """The filters of a Python started without -W: what a real `mailyard` would show."""
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=category, append=True)
    warnings.filterwarnings("default", append=True)


def _celery_configured() -> bool:
    module = sys.modules.get("mailyard.celery_app")
    return module is not None and bool(module.app.configured)
