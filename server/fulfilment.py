"""Wiring of fulfilment into the service: signed tickets (and, next, the e-mail outbox).

Kept in one place so `open_services` adds it with one call and the command line builds
the very same gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from databases import Database

from server.catalogue import Catalogue
from server.settings import Settings
from server.status.changes import StatusChanges
from server.tickets.codes import TicketSigner
from server.tickets.gate import Gate
from server.tickets.issuing import TicketIssuer


@dataclass(frozen=True)
class Fulfilment:
    gate: Gate


def build_gate(settings: Settings, database: Database, catalogue: Catalogue) -> Gate:
    return Gate(database, TicketSigner(settings.ticket_signing_key), catalogue)


def install_fulfilment(
    settings: Settings, database: Database, catalogue: Catalogue, changes: StatusChanges
) -> Fulfilment:
    """Register the hooks that run in a payment's transaction."""
    gate = build_gate(settings, database, catalogue)
    changes.hooks.append(TicketIssuer(gate.signer))
    return Fulfilment(gate)
