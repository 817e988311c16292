"""Settings: defaults, then a YAML file, then DOCKYARD_* variables, then the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dockyard.settings import load_settings


def test_defaults_are_the_embedded_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_CONFIG", raising=False)
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.blob_root == settings.data_dir.resolve() / "blobs"
    assert settings.limits.manifest_max_bytes == 4 * 1024 * 1024
    assert settings.workers == 1


def test_yaml_then_environment_then_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dockyard.yaml"
    config.write_text(
        "port: 6000\nhost: 0.0.0.0\nlimits:\n  manifest_max_bytes: 1024\n  name_max_length: 64\n"
    )
    monkeypatch.setenv("DOCKYARD_CONFIG", str(config))
    from_file = load_settings()
    assert (from_file.port, from_file.host, from_file.limits.manifest_max_bytes) == (
        6000,
        "0.0.0.0",
        1024,
    )
    monkeypatch.setenv("DOCKYARD_PORT", "7000")
    monkeypatch.setenv("DOCKYARD_LIMITS__MANIFEST_MAX_BYTES", "2048")
    from_env = load_settings()
    assert (from_env.port, from_env.limits.manifest_max_bytes) == (7000, 2048)
    # A nested key the environment does not name keeps the file's value.
    assert from_env.limits.name_max_length == 64
    assert load_settings(port=8000, data_dir=tmp_path / "d").port == 8000


def test_bad_values_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_CONFIG", raising=False)
    monkeypatch.setenv("DOCKYARD_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        load_settings()
    monkeypatch.delenv("DOCKYARD_PORT")
    config = tmp_path / "bad.yaml"
    config.write_text("no_such_setting: 1\n")
    monkeypatch.setenv("DOCKYARD_CONFIG", str(config))
    with pytest.raises(ValidationError):
        load_settings()
