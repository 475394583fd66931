"""Logs: JSON lines carry the request id; debug logs keep the database drivers quiet."""

from __future__ import annotations


def test_json_logs_carry_the_request_id():
    import io
    import json
    import logging

    from smarthub_mcp import logs

    stream = io.StringIO()
    logs.configure("INFO", "json", stream=stream)
    token = logs.request_id_var.set("req-42")
    try:
        logging.getLogger("smarthub.test").info("hello", extra={"user": "u1"})
    finally:
        logs.request_id_var.reset(token)
        logs.configure("INFO", "text")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-42" and line["msg"] == "hello" and line["user"] == "u1"


async def test_debug_logs_keep_the_drivers_quiet(make_config, db):
    """At DEBUG, SmartHub's own lines appear but no database statement with its parameters: a
    registration must not write the password's hash (or the refresh token's) into the log."""
    import io
    import logging

    from smarthub_mcp import logs
    from tests.identity.helpers import app_client

    stream = io.StringIO()
    logs.configure("DEBUG", "text", stream=stream)
    try:
        async with app_client(make_config()) as client:
            body = {"email": "dbg@example.com", "password": "pw-" + "x" * 12}
            r = await client.post("/api/v1/auth/register", json=body)
            assert r.status_code == 201
            logging.getLogger("smarthub.test").debug("own debug line")
    finally:
        logs.configure("INFO", "text")
    text_out = stream.getvalue()
    assert "own debug line" in text_out
    assert "$argon2" not in text_out and "INSERT INTO" not in text_out, text_out[-2000:]
