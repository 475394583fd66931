-- Disputes, one row each, so a payment's clawback follows the total money returned to the buyer:
-- refunds (payments.amount_refunded_minor, cumulative) plus every dispute whose funds are withdrawn
-- (`returned` = 1: opened or lost), and no longer a dispute that was won or reinstated (0).
-- `final` = 1 once the dispute is closed or its funds reinstated: a late "created" event for it
-- then changes nothing.
CREATE TABLE payment_disputes (
    id           TEXT PRIMARY KEY,                       -- Stripe's dp_... id
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    amount_minor BIGINT NOT NULL,
    returned     INTEGER NOT NULL,
    final        INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CHECK (amount_minor >= 0),
    CHECK (returned IN (0, 1)),
    CHECK (final IN (0, 1))
);
CREATE INDEX payment_disputes_payment ON payment_disputes (payment_id);
