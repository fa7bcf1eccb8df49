"""PayHero's API, as the rest of the service sees it: two calls and the project's own errors.

httpx errors and PayHero's error bodies are translated here, at the boundary. A payment
request is never retried: a retried STK push can prompt, and charge, the customer twice.
"""

from __future__ import annotations

import functools
import logging
import ssl
import urllib.request
from dataclasses import dataclass
from datetime import datetime

import httpx

from server.json_types import JSONObject, JSONValue
from server.payhero.connection_shards import sharded_transport
from server.payhero.shapes import StkPushRequest

log = logging.getLogger("server.payhero")


class PaymentProviderError(Exception):
    """PayHero did not accept the request; `reason` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderRefused(PaymentProviderError):
    """PayHero answered, and said no."""


class ProviderUnavailable(PaymentProviderError):
    """PayHero could not be reached: the request never left (connection refused, DNS)."""


class OutcomeUnknown(ProviderUnavailable):
    """The request may have reached PayHero, but no usable answer came back: a timeout after
    sending, a dropped connection, a 5xx or nonsense. An STK push may be on the phone."""


class NoFreeConnection(OutcomeUnknown):
    """The request never left: all PAYHERO_MAX_CONNECTIONS were busy for PAYHERO_POOL_TIMEOUT.

    An OutcomeUnknown although nothing was sent: failing a push for our own congestion would
    fail its order and give its seats away in the very rush that caused it (issue 22's flash
    sale: 502s at 83 checkouts/s). Unknown keeps the order `processing` with its seats, and
    the customer sends the prompt again once its window is over.
    """


@dataclass(frozen=True, slots=True)
class StkPushAccepted:
    reference: str
    checkout_request_id: str


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    status: str  # QUEUED, SUCCESS or FAILED
    receipt_number: str | None
    # PayHero's answer as received, every key kept: the desk shows it as evidence.
    raw: JSONObject
    # What PayHero says the transaction was for, where its answer names it: the amount, our
    # order number, and when PayHero took the push (epoch ms). None when the answer is silent.
    amount: int | None = None
    external_reference: str | None = None
    taken_ms: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    def names(self, order_number: str, amount: int) -> bool:
        """Whether PayHero's record names this order and this amount: both must be said."""
        return self.external_reference == order_number and self.amount == amount

    def contradicts(self, order_number: str, amount: int) -> bool:
        """Whether PayHero's record names another order or another amount."""
        other_order = self.external_reference is not None and self.external_reference != order_number
        return other_order or (self.amount is not None and self.amount != amount)


class PayHeroClient:
    """PayHero's API: STK pushes sent and transactions' status asked, errors told apart
    (refused, or outcome unknown)."""

    def __init__(self, http: httpx.AsyncClient, *, channel_id: int) -> None:
        # `http` carries base_url, Basic auth, timeouts and pool limits; built once in the lifespan.
        self.http = http
        self.channel_id = channel_id

    async def initiate_stk_push(
        self,
        *,
        amount: int,
        phone_number: str,
        external_reference: str,
        customer_name: str,
        callback_url: str,
    ) -> StkPushAccepted:
        body: StkPushRequest = {
            "amount": amount,
            "phone_number": phone_number,
            "channel_id": self.channel_id,
            "provider": "m-pesa",
            "external_reference": external_reference,
            "customer_name": customer_name,
            "callback_url": callback_url,
        }
        data = await self._call("POST", "/api/v2/payments", json=body)
        reference = data.get("reference")
        checkout = data.get("CheckoutRequestID")
        if not data.get("success") or not isinstance(reference, str) or not isinstance(checkout, str):
            raise ProviderRefused(_reason(data, "PayHero did not accept the payment request"))
        return StkPushAccepted(reference=reference, checkout_request_id=checkout)

    async def transaction_status(self, reference: str) -> TransactionStatus:
        data = await self._call("GET", "/api/v2/transaction-status", params={"reference": reference})
        status = str(data.get("status", "")).upper()
        if status not in {"QUEUED", "SUCCESS", "FAILED"}:
            raise ProviderUnavailable(f"PayHero returned an unknown transaction status {status!r}")
        receipt = _receipt(data.get("provider_reference")) or _receipt(data.get("third_party_reference"))
        return TransactionStatus(
            status=status,
            receipt_number=receipt,
            raw=data,
            amount=_whole(data.get("amount")),
            external_reference=_word(data.get("external_reference")),
            taken_ms=_instant(data.get("transaction_date")),
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: StkPushRequest | None = None,
        params: dict[str, str] | None = None,
    ) -> JSONObject:
        """PayHero's answer as a JSON object (not yet trusted: the caller parses it), or the
        project's error for whatever went wrong."""
        try:
            response = await self.http.request(method, path, json=json, params=params)
        except httpx.PoolTimeout as exc:
            # The settings to look at are named: the reason is logged and stored on the push.
            busy = (
                "not sent: every connection to PayHero busy (PAYHERO_MAX_CONNECTIONS, PAYHERO_POOL_TIMEOUT)"
            )
            raise NoFreeConnection(busy) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing was sent: PayHero cannot have acted on it.
            raise ProviderUnavailable(f"PayHero could not be reached ({type(exc).__name__})") from exc
        except httpx.TimeoutException as exc:
            raise OutcomeUnknown("PayHero did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(f"PayHero's answer was lost ({type(exc).__name__})") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OutcomeUnknown(f"PayHero answered {response.status_code} without a JSON object")
        if response.status_code >= 500:
            raise OutcomeUnknown(_reason(data, f"PayHero failed with {response.status_code}"))
        if response.is_error:
            raise ProviderRefused(_reason(data, f"PayHero refused the request ({response.status_code})"))
        return data


def _whole(value: JSONValue) -> int | None:
    """An amount PayHero states (a number or numeric text), or None when it states none."""
    if isinstance(value, bool) or not isinstance(value, int | float | str) or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _word(value: JSONValue) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _receipt(value: JSONValue) -> str | None:
    """A receipt as PayHero wrote it; None when absent, empty or not text."""
    return value if isinstance(value, str) and value else None


def _instant(value: JSONValue) -> int | None:
    """`transaction_date` (ISO 8601, `Z` or an offset) as epoch ms; None when absent or not a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


def _reason(data: JSONObject, fallback: str) -> str:
    for key in ("error_message", "message", "error", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return fallback


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One TLS context per process for every httpx client the service makes (this one, the
    sandbox's callbacks): each new one loads the CA bundle again (21-34 ms of CPU here), which
    an app built many times in one process (the tests) paid at every start."""
    return httpx.create_ssl_context()


def build_http_client(
    *,
    base_url: str,
    username: str,
    password: str,
    timeout: float,
    max_connections: int = 256,
    pool_timeout: float = 5.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    # Every connection may be kept alive: httpx's default of 20 closes the rest after each
    # answer, and a sale's burst would open (and, over TLS, handshake) one per push. They
    # are split over small pools (server/payhero/connection_shards.py), each through the
    # proxy the environment names for PayHero (HTTPS_PROXY, NO_PROXY), if any: httpx reads
    # those only for its own transport. The sandbox's transport is in-process, with no TLS:
    # loading the CA bundle for it cost every sandbox start ~35 ms of CPU.
    return httpx.AsyncClient(
        base_url=base_url,
        auth=httpx.BasicAuth(username, password),
        timeout=httpx.Timeout(timeout, connect=5.0, pool=pool_timeout),
        transport=transport
        or sharded_transport(max_connections, verify=shared_tls_context(), proxy=proxy_for(base_url)),
        headers={"Accept": "application/json", "User-Agent": "payment-status/0.1"},
    )


def proxy_for(base_url: str) -> str | None:
    """The proxy the environment sends requests to `base_url` through, as httpx reads it."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy is None or urllib.request.proxy_bypass(url.host):
        return None
    return proxy
