"""Recent template inputs on both databases: the newest RECENT_KEPT per variable, a repeat moves to
the front, only short single-line text and numbers are kept, and each user sees their own."""

from __future__ import annotations

from smarthub_mcp.templates.recent import RECENT_KEPT, recall, remember, worth_keeping
from smarthub_mcp.templates.variables import Variable


async def test_the_newest_values_are_kept_per_variable_and_user(db):
    for i in range(RECENT_KEPT + 3):
        await remember(db, "usr_a", "tpl_1", {"who": f"name {i:02d}"})
    await remember(db, "usr_a", "tpl_1", {"who": "name 05"})  # used again: newest
    got = await recall(db, "usr_a", "tpl_1", "who")
    assert len(got) == RECENT_KEPT and got[0] == "name 05"
    assert "name 00" not in got and "name 12" in got
    assert await recall(db, "usr_b", "tpl_1", "who") == []
    assert await recall(db, "usr_a", "tpl_2", "who") == []


def test_only_short_single_line_text_and_numbers_are_worth_keeping():
    variables = [Variable(name="who"), Variable(name="n", type="number"), Variable(name="ok", type="boolean"),
                 Variable(name="tone", type="enum", choices=["a", "b"]), Variable(name="doc")]
    kept = worth_keeping(variables, {"who": " Ann ", "n": 3, "ok": True, "tone": "a", "doc": "x" * 500})
    assert kept == {"who": "Ann", "n": "3"}
    assert worth_keeping(variables, {"who": "two\nlines"}) == {}
    assert worth_keeping(variables, None) == {}
