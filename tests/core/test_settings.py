from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings, parse_listen


def test_defaults_make_the_embedded_mode_work(tmp_path):
    s = load_settings({"MAILYARD_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'mailyard.db'}"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path / 'queue.db'}"
    assert s.smtp_listen == "127.0.0.1:2525" and s.http_listen == "127.0.0.1:8080"
    assert s.domain == "lists.localhost"


def test_environment_overrides_the_toml_file(tmp_path):
    (tmp_path / "mailyard.toml").write_text('domain = "lists.example.org"\nweb_workers = 4\n')
    s = load_settings({"MAILYARD_DATA_DIR": str(tmp_path)})
    assert s.domain == "lists.example.org" and s.web_workers == 4
    s = load_settings({"MAILYARD_DATA_DIR": str(tmp_path), "MAILYARD_DOMAIN": "x.example"})
    assert s.domain == "x.example"


def test_config_path_comes_from_mailyard_config(tmp_path):
    conf = tmp_path / "elsewhere.toml"
    conf.write_text('base_url = "https://lists.example.org"\n')
    s = load_settings({"MAILYARD_DATA_DIR": str(tmp_path / "d"), "MAILYARD_CONFIG": str(conf)})
    assert s.base_url == "https://lists.example.org"
    assert s.data_dir == Path(tmp_path / "d").resolve()


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(SettingsError, match="MAILYARD_WEB_WORKERS"):
        load_settings({"MAILYARD_DATA_DIR": str(tmp_path), "MAILYARD_WEB_WORKERS": "many"})
    (tmp_path / "mailyard.toml").write_text("domain = \n")
    with pytest.raises(SettingsError, match="mailyard.toml"):
        load_settings({"MAILYARD_DATA_DIR": str(tmp_path)})


def test_listen_addresses():
    assert parse_listen("127.0.0.1:2525") == ("127.0.0.1", 2525)
    assert parse_listen("[::1]:25") == ("::1", 25)
    assert parse_listen("unix:/run/mailyard.sock") == "/run/mailyard.sock"
    assert parse_listen("") is None
    with pytest.raises(SettingsError):
        parse_listen("nonsense")
