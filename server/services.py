"""What the app holds for its lifetime: built in the lifespan, handed to routes as state."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.types import Scope

from server.broker import Broker
from server.catalogue import Catalogue
from server.mail.delivery import OutboxWorker
from server.ops.forwarded import UntrustedForwarding
from server.ops.metrics import Metrics
from server.orders.checkout import Checkout
from server.orders.lost_tickets import LostTickets
from server.orders.prompts import Prompts
from server.orders.push_limits import PushLimits
from server.payhero.client import PayHeroClient
from server.payhero.fake import FakePayHero
from server.payments.callbacks import CallbackProcessor
from server.payments.pushes import PushSender
from server.settings import Settings
from server.status.admitted import AdmittedCounts
from server.status.hub import StatusHub
from server.status.reader import OrderReader
from server.store import Database
from server.tickets.admission_list import AdmissionLists
from server.tickets.gate import Gate
from server.tickets.gate_limits import GateLimits
from server.tickets.offline_check_ins import OfflineCheckIns
from server.tickets.qr_images import QrImages
from server.transitions.changes import StatusChanges


@dataclass
class Services:
    settings: Settings
    database: Database
    broker: Broker
    reader: OrderReader
    hub: StatusHub
    changes: StatusChanges
    catalogue: Catalogue
    payhero: PayHeroClient
    checkout: Checkout
    pushes: PushSender
    prompts: Prompts
    callbacks: CallbackProcessor
    push_limits: PushLimits
    metrics: Metrics
    # Fulfilment: the gate's verify and check-in, and the e-mail outbox's worker.
    gate: Gate
    outbox: OutboxWorker
    # How many codes an address and a gate token may try (server/tickets/gate_limits.py).
    gate_limits: GateLimits
    # "Lost your tickets?" (server/orders/lost_tickets.py).
    lost_tickets: LostTickets
    # Who is in, per event, live for every gate device (server/status/admitted.py).
    admitted: AdmittedCounts
    # Offline gates: the lists they keep, and their queued check-ins.
    admission_lists: AdmissionLists
    offline_check_ins: OfflineCheckIns
    # The simulated PayHero and customer, in sandbox mode only.
    sandbox: FakePayHero | None = None
    # Forwarded headers from peers FORWARDED_ALLOW_IPS does not trust: /readyz.
    untrusted_forwarding: UntrustedForwarding = field(default_factory=UntrustedForwarding)
    # Tickets' QR images, drawn once per process.
    qr_images: QrImages = field(default_factory=QrImages)


def services(request: Request) -> Services:
    found: Services = request.state.services
    return found


def scope_services(scope: Scope) -> Services:
    """`services`, for a bare ASGI route that has its scope and no Request."""
    found: Services = scope["state"]["services"]
    return found
