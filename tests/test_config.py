"""Settings: credit amounts, files and environment overrides, one-line errors for bad setups."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarthub_mcp.config import load_config
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_credits_are_parsed_exactly():
    assert parse_credits("1.5") == 1_500_000
    assert parse_credits(2) == 2_000_000
    assert parse_credits(0.1) == 100_000
    assert parse_credits("0.000001") == 1
    with pytest.raises(ValueError):
        parse_credits("0.0000001")
    with pytest.raises(ValueError):
        parse_credits("NaN")
    with pytest.raises(ValueError):
        parse_credits(True)
    # Exponents past what Decimal's arithmetic can scale (decimal.Overflow, or an underflow to 0).
    for huge in ("1e999999", "-1E+999999", "9" * 5000, 1e308):
        with pytest.raises(ValueError, match="at most 1,000,000,000 credits"):
            parse_credits(huge)
    with pytest.raises(ValueError, match="at most 6 decimal places"):
        parse_credits("1e-9999999999")
    assert parse_credits("1e9") == 1_000_000_000 * 1_000_000 and parse_credits("0e-9999999999") == 0
    # Plain ASCII numerals, trimmed: not what Decimal alone would also take.
    assert parse_credits(" 2 ") == 2_000_000 and parse_credits(".5") == 500_000
    for odd in ("\u0661", "\u0967.5", "1_000", "1,5", "0x10", "inf", "", "1 000"):
        with pytest.raises(ValueError, match="not a credit amount"):
            parse_credits(odd)


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n')
    cfg = load_config(path, env={"SMARTHUB_SERVER__PORT": "9002"})
    assert cfg.settings.server.port == 9002
    assert cfg.settings.server.host == "0.0.0.0"


def test_list_and_table_overrides_take_json():
    cfg = load_config(env={
        "SMARTHUB_SERVER__ALLOWED_HOSTS": '["smarthub.example.com"]',
        "SMARTHUB_LIMITS__USERS": '{"ann@example.com": {"requests_per_minute": 10}}',
    })
    assert cfg.settings.server.allowed_hosts == ["smarthub.example.com"]
    assert cfg.settings.limits.users["ann@example.com"].requests_per_minute == 10


@pytest.mark.parametrize(
    ("toml", "env", "fragment"),
    [
        ("[server]\nport = 'abc'\n", {}, "server.port"),
        ("[server]\nprot = 1\n", {}, "server.prot: unknown key"),
        ("[nonsense]\nx = 1\n", {}, "nonsense: unknown key"),
        ("not = [valid", {}, "not valid TOML"),
        ("", {"SMARTHUB_AUTH__ACCESS_TOKEN_TTL_SECONDS": "soon"}, "auth.access_token_ttl_seconds"),
        ("", {"SMARTHUB_REDIS_URL": "notaurl"}, "in the environment: SMARTHUB_REDIS_URL: "),
        ("", {"SMARTHUB_REDIS_URL": "redis://:pw@127.0.0.1:6379/zero"}, "SMARTHUB_REDIS_URL"),
        ("", {"SMARTHUB_REDIS_URL": "redis://127.0.0.1:6379/0?colour=red"}, "unknown Redis URL option 'colour'"),
        ('[auth]\nsignup_grant = "1e999999"\n', {}, "auth.signup_grant"),
        (
            '[models.x]\nkind = "chat"\n[[models.x.routes]]\nprovider = "nope"\nupstream = "m"\n',
            {},
            "unknown provider 'nope'",
        ),
    ],
)


def test_bad_config_is_one_clear_line(tmp_path, toml, env, fragment):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert fragment in info.value.message
    assert "\n" not in info.value.message
    assert ":pw@" not in info.value.message  # a Redis URL's password is never echoed


def test_readme_commands_call_the_cli_the_install_puts_in_the_venv():
    """The README installs into .venv and does not activate it: a bare `smarthub` is not on PATH."""
    import re

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    assert any(line.startswith(".venv/bin/smarthub ") for line in lines)
    assert not [line for line in lines if line.startswith(("smarthub ", "python -m smarthub"))]
    assert "scripts/serve.sh --port 9000" in readme


def test_example_config_is_valid_and_documents_every_section():
    cfg = load_config(ROOT / "config.toml", env={})
    text_ = (ROOT / "config.toml").read_text()
    for section in type(cfg.settings).model_fields:
        assert f"[{section}" in text_ or f"[[{section}" in text_, f"config.toml does not document [{section}]"


def test_the_example_config_leaves_the_public_url_to_the_served_address():
    """`serve` from the repository root reads ./config.toml: it must not pin public_base_url to :8000,
    or `--port` would advertise the wrong address."""
    cfg = load_config(ROOT / "config.toml", env={})
    assert "public_base_url" not in cfg.settings.server.model_fields_set


async def test_the_commented_video_examples_work_when_uncommented():
    """config.toml's Kling and Runway examples, uncommented, load and route to the video adapters."""
    import re
    import tomllib

    from smarthub_mcp.config import Settings
    from smarthub_mcp.providers.registry import ProviderRegistry

    text_ = (ROOT / "config.toml").read_text()
    blocks = re.findall(r"^### (video-providers|video-models)\n(.*?)^### end$", text_, flags=re.S | re.M)
    assert [name for name, _ in blocks] == ["video-providers", "video-models"]
    uncommented = "\n".join(re.sub(r"^# ?", "", line) for _, block in blocks for line in block.splitlines())
    settings = Settings(**tomllib.loads(uncommented))
    assert {settings.models[m].kind for m in ("kling-video", "runway-gen4-5")} == {"video"}
    assert set(settings.models["kling-video"].price.per_second) == {"std", "pro"}
    env = {"KLING_ACCESS_KEY": "ak", "KLING_SECRET_KEY": "sk" * 16, "RUNWAYML_API_SECRET": "key_x"}
    registry = ProviderRegistry.from_settings(settings, env=env)
    try:
        assert type(registry.get("kling").provider).__name__ == "KlingProvider"
        assert type(registry.get("runway").provider).__name__ == "RunwayProvider"
        assert registry.get("kling").capabilities == registry.get("runway").capabilities == {"video"}
    finally:
        await registry.aclose()
