"""Fulfilment's long-lived parts: the gate (signed tickets) and the e-mail outbox worker.

Built here so the service and the command line build the very same worker and gate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from server.catalogue import Catalogue
from server.logs import mask_url
from server.mail.composer_process import Composing
from server.mail.delivery import OutboxWorker
from server.mail.messages import Composer
from server.mail.transport import EmlFileSender, build_sender
from server.settings import Settings
from server.store import Database
from server.tickets.codes import TicketSigner
from server.tickets.gate import Gate

log = logging.getLogger("server.fulfilment")


@dataclass(frozen=True)
class Fulfilment:
    gate: Gate
    outbox: OutboxWorker


def build_outbox_worker(settings: Settings, database: Database) -> OutboxWorker:
    sender = build_sender(settings.smtp_url, settings.smtp_timeout, settings.data_dir)
    return OutboxWorker(
        database,
        Composing(Composer(settings.mail_from, settings.public_base_url), settings.mail_compose_processes),
        sender,
        poll_interval=settings.outbox_poll_interval,
        retry_base=settings.outbox_retry_base,
        retry_max=settings.outbox_retry_max,
        lease=settings.outbox_lease,
        crash_point=settings.crash_point,
    )


def build_gate(settings: Settings, database: Database, catalogue: Catalogue) -> Gate:
    return Gate(
        database,
        TicketSigner(settings.ticket_signing_key, *settings.signing_keys),
        catalogue,
        grace_after_end=settings.gate_grace_after_end,
    )


def build_fulfilment(settings: Settings, database: Database, catalogue: Catalogue) -> Fulfilment:
    """The gate and the outbox worker; their steps in a payment: server/transitions/pipeline.py."""
    gate = build_gate(settings, database, catalogue)
    worker = build_outbox_worker(settings, database)
    sender = worker.sender
    where = str(sender.directory) if isinstance(sender, EmlFileSender) else mask_url(settings.smtp_url or "")
    log.info("mail=%s (%s)", sender.kind, where)
    return Fulfilment(gate, worker)
