"""The configured storage is built from `[storage]`; its links are signed with a key of their own."""

from __future__ import annotations

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.errors import ConfigError
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.s3 import S3Storage
from tests.conftest import TEST_JWT_SECRET


def test_local_is_the_default_and_signs_with_a_key_derived_from_the_jwt_secret(make_config, tmp_path):
    config = make_config(SMARTHUB_STORAGE__DIRECTORY=str(tmp_path / "m"))
    storage = build_services(config).storage
    assert isinstance(storage, LocalStorage) and storage.root == (tmp_path / "m").resolve()
    assert not storage.root.exists()  # created on the first write, not at start-up
    link = storage.url("usr_a/med_1.png", expires_in=60)
    assert link.startswith(config.settings.server.public_base_url + "/media/usr_a/med_1.png?exp=")
    assert TEST_JWT_SECRET not in link
    # Another secret, other signatures: links from one deployment are worthless on another.
    other = build_services(make_config(SMARTHUB_STORAGE__DIRECTORY=str(tmp_path / "m"),
                                       SMARTHUB_MEDIA_SIGNING_SECRET="m" * 40)).storage
    assert isinstance(other, LocalStorage)
    sig = link.rsplit("sig=", 1)[1]
    assert other.signer.signature("GET", "usr_a/med_1.png", int(link.split("exp=")[1].split("&")[0])) != sig


def test_s3_is_built_from_config_and_needs_a_bucket(make_config):
    config = make_config(SMARTHUB_STORAGE__BACKEND="s3", SMARTHUB_STORAGE__BUCKET="b",
                         SMARTHUB_STORAGE__ENDPOINT_URL="http://127.0.0.1:9", SMARTHUB_STORAGE__REGION="eu-west-1",
                         AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    storage = build_services(config).storage
    assert isinstance(storage, S3Storage) and storage.bucket == "b"
    assert storage.url("usr_a/med_1.png", expires_in=60).startswith("http://127.0.0.1:9/b/usr_a/med_1.png?")
    with pytest.raises(ConfigError, match=r"storage\.bucket"):
        make_config(SMARTHUB_STORAGE__BACKEND="s3")


def test_a_short_media_signing_secret_stops_start_up(make_config):
    with pytest.raises(ConfigError) as info:
        make_config(SMARTHUB_MEDIA_SIGNING_SECRET="short")
    assert "SMARTHUB_MEDIA_SIGNING_SECRET" in str(info.value) and "short" not in str(info.value).split(":", 2)[-1]


def test_with_key_files_links_are_signed_from_the_private_key(make_config, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(pem)
    config = make_config(SMARTHUB_AUTH__ALGORITHM="EdDSA", SMARTHUB_AUTH__PRIVATE_KEY_FILE=str(tmp_path / "key.pem"),
                         SMARTHUB_STORAGE__DIRECTORY=str(tmp_path / "m"))
    storage = build_services(config).storage
    assert isinstance(storage, LocalStorage)
    key, query = storage.url("usr_a/med_1.png", expires_in=60).split("/media/", 1)[1].split("?")
    exp, sig = (part.split("=", 1)[1] for part in query.split("&"))
    assert storage.check_link(key, exp, sig) > 0
