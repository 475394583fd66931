from __future__ import annotations

from smarthub_mcp.billing.promo_codes import ALPHABET, display_code, generate_code, normalize_code


def test_generated_codes_are_unambiguous_and_distinct():
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 10
        assert not set(code) & set("0O1IL")
        assert normalize_code(code) == code
    assert not set(ALPHABET) & set("0O1IL")


def test_normalization_is_case_and_separator_insensitive():
    assert normalize_code(" summer-24 ") == normalize_code("SUMMER 24") == normalize_code("Summer_24") == "SUMMER24"
    assert normalize_code(display_code("ABCDEFGHJK")) == "ABCDEFGHJK"
    assert generate_code(6, prefix="vip-").startswith("VIP")
    for bad in ("", "ab", "x" * 41, "drop;table", "ÄÖÜ123"):
        assert normalize_code(bad) == ""
