"""PayHero's API, as the rest of the service sees it: two calls and the project's own errors.

httpx errors and PayHero's error bodies are translated here, at the boundary. A payment
request is never retried: a retried STK push can prompt, and charge, the customer twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

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


@dataclass(frozen=True)
class StkPushAccepted:
    reference: str
    checkout_request_id: str


@dataclass(frozen=True)
class TransactionStatus:
    status: str  # QUEUED, SUCCESS or FAILED
    receipt_number: str | None
    raw: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


class PayHeroClient:
    """PayHero's API: STK pushes sent and transactions' status asked, errors told apart
    (refused, or outcome unknown)."""

    def __init__(self, http: httpx.AsyncClient, *, channel_id: int) -> None:
        # `http` carries base_url, Basic auth and timeouts; built once in the lifespan.
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
        body = {
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
        receipt = data.get("provider_reference") or data.get("third_party_reference") or None
        return TransactionStatus(status=status, receipt_number=receipt, raw=data)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
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


def _reason(data: dict[str, Any], fallback: str) -> str:
    for key in ("error_message", "message", "error", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return fallback


def build_http_client(
    *,
    base_url: str,
    username: str,
    password: str,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        auth=httpx.BasicAuth(username, password),
        timeout=httpx.Timeout(timeout, connect=5.0),
        transport=transport,
        headers={"Accept": "application/json", "User-Agent": "payment-status/0.1"},
    )
