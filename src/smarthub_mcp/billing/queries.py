"""The ledger's SQL, portable across SQLite and PostgreSQL. Account updates RETURN the new state,
so a verb never re-reads what it just wrote."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from smarthub_mcp import pages

ENTRY_COLS = (
    "id, account_id, amount, kind, reference, actor_id, memo, idempotency_key, hold_id, refund_of,"
    " balance_after, created_at"
)
HOLD_COLS = (
    "id, account_id, amount, status, idempotency_key, reference, expires_at, resolved_at, captured_amount, created_at,"
    " model, request_id"
)
ENTRY_BY = {c: f"SELECT {ENTRY_COLS} FROM ledger_entries WHERE {c} = :v" for c in
            ("id", "idempotency_key", "hold_id", "refund_of")}
HOLD_BY = {c: f"SELECT {HOLD_COLS} FROM holds WHERE {c} = :v" for c in ("id", "idempotency_key")}

INSERT_ENTRY = (
    f"INSERT INTO ledger_entries ({ENTRY_COLS}) VALUES ({', '.join(':' + c.strip() for c in ENTRY_COLS.split(','))})"
)
INSERT_HOLD = (
    f"INSERT INTO holds ({HOLD_COLS}) VALUES ({', '.join(':' + c.strip() for c in HOLD_COLS.split(','))})"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)

OPEN_ACCOUNT = (
    "INSERT INTO accounts (user_id, overdraft_limit, created_at, updated_at) VALUES (:u, :o, :now, :now)"
    " ON CONFLICT (user_id) DO NOTHING"
)
ACCOUNT = "SELECT balance, held, overdraft_limit FROM accounts WHERE user_id = :u"
_STATE = " RETURNING balance, held, last_topup, low_balance_alerted"
# A credit clears the recorded debt room once the account is whole again.
_CLEAR_DEBT = "debt_allowed = CASE WHEN balance + :a - held + overdraft_limit >= 0 THEN 0 ELSE debt_allowed END"
MAX_BALANCE = 10**18
"""Micro-credits an account may hold (10^12 credits): a credit that would pass it is refused, so a
sum never leaves BIGINT (9.2 * 10^18), where SQLite would silently turn it into a float."""
# Conditional like every debit: `:cap - :a` cannot overflow, `balance + :a` past the cap never runs.
_UNDER_CAP = " WHERE user_id = :u AND balance <= CAST(:cap AS BIGINT) - CAST(:a AS BIGINT)"
CREDIT = f"UPDATE accounts SET balance = balance + :a, {_CLEAR_DEBT}, updated_at = :now" + _UNDER_CAP + _STATE
CREDIT_TOPUP = (
    f"UPDATE accounts SET balance = balance + :a, last_topup = :a, {_CLEAR_DEBT}, updated_at = :now"
    + _UNDER_CAP + _STATE
)
DEBIT = (
    "UPDATE accounts SET balance = balance - :a, updated_at = :now"
    " WHERE user_id = :u AND balance - held + overdraft_limit >= :a" + _STATE
)
DEBIT_FORCED = (
    "UPDATE accounts SET balance = balance - :a,"
    " debt_allowed = CASE WHEN held + :a - balance - overdraft_limit > debt_allowed"
    " THEN held + :a - balance - overdraft_limit ELSE debt_allowed END, updated_at = :now"
    " WHERE user_id = :u" + _STATE
)
HOLD_FUNDS = (
    "UPDATE accounts SET held = held + :a, updated_at = :now"
    " WHERE user_id = :u AND balance - held + overdraft_limit >= :a RETURNING balance"
)
UNHOLD_FUNDS = "UPDATE accounts SET held = held - :a, updated_at = :now WHERE user_id = :u"
SETTLE_HOLD = (
    "UPDATE accounts SET balance = balance - :c, held = held - :h, updated_at = :now WHERE user_id = :u" + _STATE
)
CAPTURE_HOLD = (
    "UPDATE holds SET status = 'captured', captured_amount = CASE WHEN amount < :a THEN amount ELSE :a END,"
    " resolved_at = :now WHERE id = :h AND status = 'open' RETURNING account_id, amount, captured_amount, reference"
)
RESOLVE_HOLD = (
    "UPDATE holds SET status = :s, resolved_at = :now WHERE id = :h AND status = 'open' RETURNING account_id, amount"
)
OPEN_HOLDS = "SELECT count(*), min(created_at) FROM holds WHERE status = 'open'"
DUE_HOLDS = "SELECT id FROM holds WHERE status = 'open' AND expires_at <= :now ORDER BY id LIMIT :n"
EXTEND_HOLD = "UPDATE holds SET expires_at = :e WHERE id = :h AND status = 'open' AND expires_at < :e RETURNING id"
MARK_ALERTED = (
    "UPDATE accounts SET low_balance_alerted = TRUE WHERE user_id = :u AND low_balance_alerted = FALSE"
    " RETURNING user_id"
)
REARM_ALERT = "UPDATE accounts SET low_balance_alerted = FALSE WHERE user_id = :u"

CHECK = """
SELECT a.user_id, a.balance,
       CAST((SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e WHERE e.account_id = a.user_id) AS BIGINT),
       a.held,
       CAST((SELECT COALESCE(SUM(h.amount), 0) FROM holds h
             WHERE h.account_id = a.user_id AND h.status = 'open') AS BIGINT)
FROM accounts a ORDER BY a.user_id
"""


def history_query(
    user_id: str,
    kinds: list[str] | None,
    since_ms: int | None,
    until_ms: int | None,
    cursor: str | None,
    limit: int,
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"u": user_id, "n": limit}
    conditions = ["account_id = :u"]
    if kinds:
        names = [f"k{i}" for i in range(len(kinds))]
        conditions.append(f"kind IN ({', '.join(':' + n for n in names)})")
        params.update(zip(names, kinds, strict=True))
    conditions.append(pages.where(params, [
        ("created_at >= :since", "since", since_ms),
        ("created_at < :until", "until", until_ms),
        ("id < :cursor", "cursor", cursor or None),
    ]))
    sql = f"SELECT {ENTRY_COLS} FROM ledger_entries WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT :n"
    return sql, params


# --- PostgreSQL: each hot verb in one statement (one round trip instead of two or three) ------
# Data-modifying CTEs run together on one snapshot and pass rows on by RETURNING. At READ
# COMMITTED an UPDATE that meets a row changed since that snapshot waits for its writer, then
# re-checks its WHERE on the newest version, so the conditional debit stays exact under races.
# SQLite has no DML in CTEs and no round trips to save: it runs the statements above.

_HOLD_VALUES = ", ".join(
    f"CAST(:{c.strip()} AS BIGINT)" if c.strip() in ("amount", "expires_at", "resolved_at", "captured_amount",
                                                     "created_at") else f"CAST(:{c.strip()} AS TEXT)"
    for c in HOLD_COLS.split(",")
)
# Returns (funded, hold id). RESERVE_PG_SINGLE is the statement as a transaction of its own: a
# taken key fails it whole (UNIQUE), so nothing moved. RESERVE_PG, inside a caller's transaction,
# must not fail it: funded without an id means a repeat, and the caller gives the funds back
# (UNHOLD_FUNDS) in the same transaction.


def _reserve_pg(on_conflict: str) -> str:
    return f"""
WITH funded AS (
    UPDATE accounts SET held = held + CAST(:amount AS BIGINT), updated_at = CAST(:created_at AS BIGINT)
    WHERE user_id = CAST(:account_id AS TEXT) AND balance - held + overdraft_limit >= CAST(:amount AS BIGINT)
    RETURNING user_id
), inserted AS (
    INSERT INTO holds ({HOLD_COLS}) SELECT {_HOLD_VALUES} FROM funded {on_conflict} RETURNING id
)
SELECT EXISTS (SELECT 1 FROM funded), (SELECT id FROM inserted)
"""


RESERVE_PG_SINGLE = _reserve_pg("")
RESERVE_PG = _reserve_pg("ON CONFLICT (idempotency_key) DO NOTHING")
# Returns no row when the hold was not open, else the hold's (account, amount, charged, reference)
# and the account's state after settling; the usage entry is appended when something was charged.
_CAPTURE_PG = f"""
WITH captured AS (
    UPDATE holds SET status = 'captured', captured_amount = LEAST(amount, CAST(:a AS BIGINT)),
        resolved_at = CAST(:now AS BIGINT)
    WHERE id = CAST(:h AS TEXT) AND status = 'open'
    RETURNING account_id, amount, captured_amount, reference
), settled AS (
    UPDATE accounts SET balance = balance - c.captured_amount, held = held - c.amount,
        updated_at = CAST(:now AS BIGINT)
    FROM captured c WHERE accounts.user_id = c.account_id
    RETURNING accounts.balance, accounts.held, accounts.last_topup, accounts.low_balance_alerted
), entry AS (
    INSERT INTO ledger_entries ({ENTRY_COLS})
    SELECT CAST(:id AS TEXT), c.account_id, -c.captured_amount, 'usage', c.reference, NULL, CAST(:memo AS TEXT),
        CAST(:key AS TEXT), CAST(:h AS TEXT), NULL, s.balance, CAST(:now AS BIGINT)
    FROM captured c, settled s WHERE c.captured_amount > 0
){{recorded}}
SELECT c.account_id, c.amount, c.captured_amount, c.reference, s.balance, s.held, s.last_topup,
       s.low_balance_alerted
FROM captured c, settled s
"""
CAPTURE_PG = _CAPTURE_PG.format(recorded="")


# A capture's extra row (billing.records.Record): its values are `:r_<column>` parameters, the
# amount charged goes into its charged column. On PostgreSQL it is one more data-modifying CTE
# fed by `captured`, so it is written in the same statement and only when the hold closed; no
# CASTs needed, PostgreSQL types an INSERT's parameters from the target columns.
def record_params(values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"r_{c}": v for c, v in values.items()}


@functools.cache
def record_insert(table: str, columns: tuple[str, ...], charged_column: str) -> str:
    """SQLite: the row as a statement of its own, the charge in `:r_charged`."""
    values = ", ".join(f":r_{c}" for c in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}, {charged_column}) VALUES ({values}, :r_charged)"


@functools.cache
def capture_pg_recorded(table: str, columns: tuple[str, ...], charged_column: str) -> str:
    values = ", ".join(f":r_{c}" for c in columns)
    recorded = (f", recorded AS (\n    INSERT INTO {table} ({', '.join(columns)}, {charged_column})\n"
                f"    SELECT {values}, c.captured_amount FROM captured c\n)")
    return _CAPTURE_PG.format(recorded=recorded)


RESOLVE_PG = """
WITH resolved AS (
    UPDATE holds SET status = CAST(:s AS TEXT), resolved_at = CAST(:now AS BIGINT)
    WHERE id = CAST(:h AS TEXT) AND status = 'open' RETURNING account_id, amount
), unheld AS (
    UPDATE accounts SET held = held - r.amount, updated_at = CAST(:now AS BIGINT)
    FROM resolved r WHERE accounts.user_id = r.account_id RETURNING accounts.user_id
)
SELECT account_id FROM resolved
"""
