"""The schema, as SQLAlchemy Core tables shared by SQLite and PostgreSQL.

Timestamps are integer milliseconds since the epoch (UTC): they compare and index the
same way on both databases, and the status document formats them as ISO 8601.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(16), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

orders = sa.Table(
    "orders",
    metadata,
    # At least 128 random bits, URL-safe: the only key a browser ever holds.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("order_number", sa.String(16), nullable=False, unique=True),
    sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("event_slug", sa.String(64), nullable=True),
    sa.Column("ticket_type", sa.String(64), nullable=True),
    sa.Column("quantity", sa.Integer, nullable=False, server_default="1"),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False, server_default="KES"),
    sa.Column("payment_status", sa.String(16), nullable=False),
    # Bumped by one in the same statement as every change: the SSE id and /wait cursor.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("result_code", sa.Integer, nullable=True),
    sa.Column("result_desc", sa.String(255), nullable=True),
    sa.Column("receipt_number", sa.String(32), nullable=True),
    sa.Column("payhero_reference", sa.String(64), nullable=True),
    sa.Column("checkout_request_id", sa.String(64), nullable=True),
    # Why a person must look at this order (a payment held for review, seats over capacity).
    sa.Column("needs_review", sa.String(255), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    # Who placed it, as typed at checkout: e-mails greet them with this, and a later checkout
    # with the same e-mail address never rewrites it (migration 4; null on older orders).
    sa.Column("first_name", sa.String(100), nullable=True),
    sa.Column("last_name", sa.String(100), nullable=True),
    sa.Column("phone", sa.String(16), nullable=True),
    # STK pushes attempted so far, and when the latest prompt's window ends (status document).
    sa.Column("pushes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("prompt_expires_ms", sa.BigInteger, nullable=True),
    # The language the checkout page was read in ("en", "sw"): the order's e-mails are written
    # in it (migration 7; null on older orders, which are English).
    sa.Column("language", sa.String(8), nullable=True),
    # The client address the checkout came from, as the per-address limits key it (IPv6 by
    # its /64): what caps the unpaid seats one address may hold (migration 9).
    sa.Column("client_key", sa.String(64), nullable=True),
    sa.Index("ix_orders_updated_ms", "updated_ms"),
    sa.Index("ix_orders_status_updated", "payment_status", "updated_ms"),
    sa.Index("ix_orders_checkout_request_id", "checkout_request_id"),
    # "Has this customer paid before?" on every payment: without it, a scan of all paid orders.
    sa.Index("ix_orders_customer_status", "customer_id", "payment_status"),
)

# Every stored change of an order, for audit ("the change is recorded", DESIGN rule 5).
order_changes = sa.Table(
    "order_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("note", sa.String(255), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("order_id", "version", name="uq_order_changes_version"),
)

# Every STK push of an order, written before it is sent: a push whose answer never came
# (timeout, dropped connection, a process stopping) stays on record as `sending`/`unknown`,
# so a callback for it is still matched to its order and applied.
payment_pushes = sa.Table(
    "payment_pushes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id"), nullable=False),
    # 1 for the checkout's push, 2 for the first "send again", ...
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("sent_ms", sa.BigInteger, nullable=False),
    # sending (written, no answer yet), accepted, refused, unknown (no usable answer).
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("payhero_reference", sa.String(64), nullable=True),
    sa.Column("checkout_request_id", sa.String(64), nullable=True),
    sa.Column("error", sa.String(255), nullable=True),
    sa.Column("answered_ms", sa.BigInteger, nullable=True),
    # What PayHero's callback for this push said (completed, failed, ...) and its receipt.
    sa.Column("result", sa.String(16), nullable=True),
    sa.Column("receipt_number", sa.String(32), nullable=True),
    sa.UniqueConstraint("order_id", "attempt", name="uq_payment_pushes_attempt"),
    sa.Index("ix_payment_pushes_checkout_request_id", "checkout_request_id"),
    sa.Index("ix_payment_pushes_payhero_reference", "payhero_reference"),
)

# Each M-PESA receipt that completed an order, keyed by the receipt: one payment pays for one
# order, however many callbacks, status checks or operators name it (migration 8, issue 24).
payment_receipts = sa.Table(
    "payment_receipts",
    metadata,
    sa.Column("receipt_number", sa.String(32), primary_key=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

# Seats per ticket type: `sold` only grows through a conditional UPDATE that checks capacity.
ticket_inventory = sa.Table(
    "ticket_inventory",
    metadata,
    sa.Column("event_slug", sa.String(64), primary_key=True),
    sa.Column("ticket_type", sa.String(64), primary_key=True),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("sold", sa.Integer, nullable=False, server_default="0"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("event_slug", sa.String(64), nullable=False),
    sa.Column("ticket_type", sa.String(64), nullable=False),
    # Signed when the order completes (fulfilment); empty before.
    sa.Column("code", sa.String(255), nullable=True, unique=True),
    sa.Column("checked_in_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    # The code an attendant types (server/tickets/short_codes.py), set with `code` (migration 5).
    sa.Column("short_code", sa.String(16), nullable=True),
    # The door that checked the ticket in, as its device names itself (migration 5).
    sa.Column("checked_in_gate", sa.String(40), nullable=True),
    sa.Index("ix_tickets_short_code", "short_code", unique=True),
)

# A ticket let in by a gate that was offline after another door had already let it in: found
# when that gate's queue reached the service (migration 10). The first admission is the
# ticket's own `checked_in_ms` and `checked_in_gate`.
gate_double_admissions = sa.Table(
    "gate_double_admissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.String(32), sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("event_slug", sa.String(64), nullable=False),
    sa.Column("gate", sa.String(40), nullable=True),
    sa.Column("scanned_ms", sa.BigInteger, nullable=False),
    sa.Column("recorded_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_gate_double_admissions_event", "event_slug"),
    sa.UniqueConstraint("ticket_id", "gate", "scanned_ms", name="uq_gate_double_admission"),
)

# Every callback body exactly as received, before anything else (DESIGN rule 6).
payhero_callbacks = sa.Table(
    "payhero_callbacks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("order_id", sa.String(64), nullable=True),
    # Null until applied; then what it did: applied, duplicate, ignored: <why>, review: <why>,
    # invalid: <why>.
    sa.Column("outcome", sa.String(64), nullable=True),
    sa.Column("processed_ms", sa.BigInteger, nullable=True),
    # Set on the row a `replay-callback` writes: the stored callback it applied again. The
    # original row keeps its own outcome and time (migration 4).
    sa.Column("replay_of", sa.Integer, nullable=True),
    sa.Index("ix_payhero_callbacks_unprocessed", "processed_ms"),
)

# E-mails to send, written in the transaction of the change that causes them and delivered
# after commit (DESIGN rule 6). `key` makes a second write of the same e-mail a no-op.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # e.g. `order:{id}:receipt`, `customer:{id}:welcome`; also the seed of the Message-ID.
    sa.Column("key", sa.String(160), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id"), nullable=True),
    sa.Column("recipient", sa.String(254), nullable=False),
    # What the templates need, as JSON, captured when the row was written.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    # Retries: when the next attempt may start. Doubles after each failure.
    sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(255), nullable=True),
    # A lease taken by a conditional UPDATE: whoever holds an unexpired one is sending it.
    sa.Column("locked_until_ms", sa.BigInteger, nullable=True),
    sa.Column("claim", sa.String(32), nullable=True),
    sa.Column("sent_ms", sa.BigInteger, nullable=True),
    sa.Index("ix_outbox_unsent", "sent_ms", "next_attempt_ms"),
)

# What an organiser did at the desk (or an operator at the command line) about an order:
# asked PayHero again, completed or closed a payment held for review, sent the tickets
# again. Who (the desk token's name) and when, shown in the order's story (migration 6).
desk_actions = sa.Table(
    "desk_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.id"), nullable=False),
    # ask_payhero, complete, close, resend_tickets.
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("note", sa.String(255), nullable=True),
    sa.Column("receipt_number", sa.String(32), nullable=True),
    # PayHero's transaction-status answer as JSON (ask_payhero), or what the action did.
    sa.Column("evidence", sa.Text, nullable=True),
    # The order's `needs_review` this action settled: the review queue leaves such orders
    # out until a new reason is written on them.
    sa.Column("resolves", sa.String(255), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_desk_actions_order", "order_id"),
)
