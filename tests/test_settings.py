"""Node settings come from DASES_* environment variables and a TOML file named by DASES_CONFIG;
explicit overrides beat the environment, which beats the file; bad values and unknown keys are
refused naming the field; secrets never show in the settings' repr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from dases.settings import MAX_TOKEN_LIFETIME_SECONDS, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no DASES_* configuration from the surrounding shell."""
    for name in list(os.environ):
        if name.startswith("DASES_"):
            monkeypatch.delenv(name)


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "dases.toml"
    path.write_text(text)
    monkeypatch.setenv("DASES_CONFIG", str(path))
    return path


def field_names(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in entry["loc"]) for entry in error.errors()}


def test_defaults_give_an_embedded_node_on_loopback() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.admin_token is None
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.token_lifetime_seconds <= MAX_TOKEN_LIFETIME_SECONDS


def test_environment_variables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASES_PORT", "9001")
    monkeypatch.setenv("DASES_DATA_DIR", str(tmp_path / "node"))
    monkeypatch.setenv("DASES_ADMIN_TOKEN", "admin-token-from-env")
    monkeypatch.setenv("DASES_ALLOW_HTTP_DID_HOSTS", '["node.test"]')
    monkeypatch.setenv("DASES_TOKEN_LIFETIME_SECONDS", "60")
    settings = Settings()
    assert settings.port == 9001
    assert settings.data_dir == tmp_path / "node"
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "admin-token-from-env"
    assert settings.allow_http_did_hosts == ["node.test"]
    assert settings.token_lifetime_seconds == 60


def test_environment_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("dases_port", "9002")
    assert Settings().port == 9002


def test_toml_file_named_by_dases_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        tmp_path,
        monkeypatch,
        'port = 9100\npublic_url = "https://node.example.org/"\nadmin_token = "admin-token-from-file"\n'
        'allow_http_did_hosts = ["127.0.0.1"]\n',
    )
    settings = Settings()
    assert settings.port == 9100
    assert settings.base_url == "https://node.example.org"
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "admin-token-from-file"
    assert settings.allow_http_did_hosts == ["127.0.0.1"]


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, 'port = 9100\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("DASES_PORT", "9200")
    settings = Settings()
    assert settings.port == 9200
    assert settings.host == "0.0.0.0"  # what the environment leaves unset still comes from the file


def test_explicit_overrides_win_over_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, "port = 9100\n")
    monkeypatch.setenv("DASES_PORT", "9200")
    monkeypatch.setenv("DASES_DATA_DIR", str(tmp_path / "from-env"))
    settings = load_settings(port=9300, data_dir=tmp_path / "from-cli")
    assert settings.port == 9300
    assert settings.data_dir == tmp_path / "from-cli"


def test_overrides_left_as_none_do_not_hide_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASES_PORT", "9200")
    monkeypatch.setenv("DASES_DATA_DIR", str(tmp_path / "from-env"))
    settings = load_settings(port=None, host=None, data_dir=None)
    assert settings.port == 9200
    assert settings.data_dir == tmp_path / "from-env"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("DASES_PORT", "notaport", "port"),
        ("DASES_PORT", "70000", "port"),
        ("DASES_TOKEN_LIFETIME_SECONDS", str(MAX_TOKEN_LIFETIME_SECONDS + 1), "token_lifetime_seconds"),
        ("DASES_TOKEN_LIFETIME_SECONDS", "0", "token_lifetime_seconds"),
        ("DASES_CLOCK_SKEW_SECONDS", "-1", "clock_skew_seconds"),
        ("DASES_DID_CACHE_SIZE", "0", "did_cache_size"),
    ],
)
def test_invalid_environment_value_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert field_names(error.value) == {field}
    assert field in str(error.value)


def test_token_lifetime_is_capped_at_five_minutes() -> None:
    assert Settings(token_lifetime_seconds=300).token_lifetime_seconds == 300
    with pytest.raises(ValidationError) as error:
        load_settings(token_lifetime_seconds=301)
    assert field_names(error.value) == {"token_lifetime_seconds"}


def test_invalid_value_in_the_file_is_refused_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, "token_lifetime_seconds = 301\n")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert field_names(error.value) == {"token_lifetime_seconds"}


def test_unknown_key_in_the_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, "port = 9100\nadmin_tokn = \"typo\"\n")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert field_names(error.value) == {"admin_tokn"}
    assert error.value.errors()[0]["type"] == "extra_forbidden"


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        load_settings(prot=9000)
    assert field_names(error.value) == {"prot"}


def test_database_defaults_to_a_sqlite_file_under_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "node")
    assert settings.database_url is None
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'node' / 'dases.sqlite3').resolve()}"

    monkeypatch.chdir(tmp_path)
    relative = Settings(data_dir=Path("relative-data"))
    assert relative.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'relative-data' / 'dases.sqlite3'}"


def test_configured_database_url_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://dases@db.internal:5432/dases"
    monkeypatch.setenv("DASES_DATABASE_URL", url)
    assert Settings().resolved_database_url == url


@pytest.mark.parametrize(
    ("values", "base_url"),
    [
        ({"host": "127.0.0.1", "port": 8123}, "http://127.0.0.1:8123"),
        ({"host": "0.0.0.0", "port": 80}, "http://0.0.0.0:80"),
        ({"host": "::1", "port": 8123}, "http://[::1]:8123"),
        ({"public_url": "https://node.example.org/"}, "https://node.example.org"),
        ({"public_url": "https://node.example.org/dases/", "port": 9000}, "https://node.example.org/dases"),
        ({"public_url": "https://node.example.org:8443"}, "https://node.example.org:8443"),
    ],
)
def test_base_url_from_host_and_port_or_public_url(values: dict[str, object], base_url: str) -> None:
    assert Settings(**values).base_url == base_url  # type: ignore[arg-type]


def test_public_url_from_the_environment_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASES_PUBLIC_URL", "https://node.example.org/")
    assert Settings().public_url == "https://node.example.org"


def test_secrets_never_appear_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASES_NODE_SECRET", "node-secret-value-0123456789")
    write_config(tmp_path, monkeypatch, 'admin_token = "admin-token-value-abcdef"\n')
    settings = Settings()
    assert settings.node_secret is not None and settings.admin_token is not None
    for text in (repr(settings), str(settings), repr(settings.model_dump()), settings.model_dump_json()):
        assert "node-secret-value-0123456789" not in text
        assert "admin-token-value-abcdef" not in text
    assert settings.node_secret.get_secret_value() == "node-secret-value-0123456789"
    assert settings.resolved_node_secret() == b"node-secret-value-0123456789"
