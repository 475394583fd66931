"""The local backend's signed links: valid until their expiry (on the storage's own clock), and no
change to the key, the expiry or the signature gets through."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from smarthub_mcp.media.errors import MediaLinkExpired, MediaLinkInvalid
from smarthub_mcp.media.signing import UrlSigner
from tests.media.conftest import LINK_SECRET


def parts(link: str) -> tuple[str, str, str]:
    split = urlsplit(link)
    query = parse_qs(split.query)
    return split.path.removeprefix("/media/"), query["exp"][0], query["sig"][0]


def test_a_link_works_until_it_expires(local_storage, clock):
    key, exp, sig = parts(local_storage.url("usr_a/med_1.png", expires_in=60))
    assert key == "usr_a/med_1.png" and int(exp) == int(clock.now) + 60
    assert local_storage.check_link(key, exp, sig) == 60
    clock.now += 59
    assert local_storage.check_link(key, exp, sig) == 1
    clock.now += 1
    with pytest.raises(MediaLinkExpired):
        local_storage.check_link(key, exp, sig)


def test_an_altered_link_is_refused(local_storage):
    key, exp, sig = parts(local_storage.url("usr_a/med_1.png", expires_in=60))
    _, _, other_sig = parts(local_storage.url("usr_b/med_2.png", expires_in=60))
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    for k, e, s in [
        ("usr_b/med_1.png", exp, sig),             # another owner's object
        ("usr_a/med_1.jpg", exp, sig),             # another object of the same owner
        (key, str(int(exp) + 3600), sig),          # a later expiry
        (key, "0" + exp, sig),                     # the same number, written differently
        (key, exp, flipped),                       # a changed signature
        (key, exp, other_sig),                     # a signature moved from another link
        (key, exp, sig.lower() if sig != sig.lower() else sig.upper()),
        (key, exp, ""), (key, "", sig), (key, None, sig), (key, exp, None),
        (key, "-5", sig), (key, "1e9", sig), (key, "٣" * 10, sig), (key, "9" * 5000, sig),
        (key, exp, "\ud800" * 43), (key, exp, "é" * 43), (key, exp, sig + "="),
    ]:
        with pytest.raises(MediaLinkInvalid):
            local_storage.check_link(k, e, s)


def test_an_expired_forged_link_says_invalid_not_expired(local_storage, clock):
    """Only a genuine link can be told it expired: a forgery learns nothing from the answer."""
    key, exp, sig = parts(local_storage.url("usr_a/med_1.png", expires_in=60))
    clock.now += 3600
    with pytest.raises(MediaLinkInvalid):
        local_storage.check_link("usr_a/med_2.png", exp, sig)
    with pytest.raises(MediaLinkExpired):
        local_storage.check_link(key, exp, sig)


def test_signatures_depend_on_the_secret_and_the_method():
    one, two = UrlSigner(lambda: LINK_SECRET), UrlSigner(lambda: LINK_SECRET + b"!")
    assert one.signature("GET", "a/b.png", 10) != two.signature("GET", "a/b.png", 10)
    assert one.signature("GET", "a/b.png", 10) != one.signature("PUT", "a/b.png", 10)
    assert one.verify("GET", "a/b.png", 10, one.signature("GET", "a/b.png", 10))
    assert len(one.signature("GET", "a/b.png", 10)) == 43


def test_the_secret_is_read_only_when_a_link_is_signed():
    calls = []

    def secret() -> bytes:
        calls.append(1)
        return LINK_SECRET

    signer = UrlSigner(secret)
    assert calls == []
    signer.signature("GET", "a/b.png", 1)
    signer.signature("GET", "a/b.png", 2)
    assert calls == [1]
