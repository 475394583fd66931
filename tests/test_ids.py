"""Ids: sortable by creation, unique, fixed length."""

from __future__ import annotations


def test_ids_sort_in_the_order_they_were_made():
    from smarthub_mcp.ids import new_id

    made = [new_id("ent") for _ in range(20_000)]  # many per millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(i) == len("ent_") + 26 for i in made)
