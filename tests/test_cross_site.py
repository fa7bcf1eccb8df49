"""No cross-site actions (issue 24): a page on another site cannot change an order here.

A real uvicorn and PayHero stand-in; the requests carry what a browser puts on a request a
page on another site makes (`Origin`, `Sec-Fetch-Site`), bodies or not.
"""

from __future__ import annotations

from collections.abc import Callable

from server.settings import Settings
from tests.test_payment_lifecycle import CALLBACK, shop

EVIL = "https://tickets-free.example"
FRIEND = "https://partner.example"


async def test_another_site_cannot_cancel_or_order_but_this_one_and_payhero_can(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings().with_overrides(cors_origins=(FRIEND,))
    async with shop(settings, service={"prompt_window": 30.0}) as world:
        order = await world.checkout()
        cancel = f"/api/orders/{order['order_id']}/cancel"
        # The request: text/plain, an empty body, from another origin.
        forged = await world.http.post(
            cancel, content=b"", headers={"Origin": EVIL, "Content-Type": "text/plain"}
        )
        assert forged.status_code == 403 and forged.json()["error"] == "cross_site_refused"
        no_origin = await world.http.post(cancel, headers={"Sec-Fetch-Site": "cross-site"})
        assert no_origin.status_code == 403
        sibling = await world.http.post(cancel, headers={"Sec-Fetch-Site": "same-site"})
        assert sibling.status_code == 403
        sandboxed = await world.http.post(cancel, headers={"Origin": "null"})
        assert sandboxed.status_code == 403
        checkout = await world.http.post("/api/orders", json={}, headers={"Origin": EVIL})
        assert checkout.status_code == 403
        assert (await world.document(order["order_id"]))["payment_status"] == "processing"
        # PayHero's webhook is server to server: checked by its token, never by these headers.
        [push] = world.pushes_of(order)
        paid = await world.http.post(CALLBACK, json=world.fake.settle(push, "success"))
        assert paid.status_code == 200 and paid.json()["payment_status"] == "completed"
        # This site's own page, and a site CORS_ORIGINS lists, may act.
        own = await world.http.post(
            "/api/orders", json={}, headers={"Origin": world.live.base_url, "Sec-Fetch-Site": "same-origin"}
        )
        assert own.status_code == 422  # past the guard: the empty order is what is refused
        partner = await world.http.post("/api/orders", json={}, headers={"Origin": FRIEND})
        assert partner.status_code == 422
        # Reads are not actions: another site's GET still gets its (CORS-less) answer.
        assert (
            await world.http.get(f"/api/orders/{order['order_id']}", headers={"Origin": EVIL})
        ).status_code == 200


async def test_a_cancel_from_this_sites_page_works(make_settings: Callable[..., Settings]) -> None:
    async with shop(make_settings(), service={"prompt_window": 30.0}) as world:
        order = await world.checkout()
        headers = {"Origin": world.live.base_url, "Sec-Fetch-Site": "same-origin"}
        cancelled = await world.http.post(f"/api/orders/{order['order_id']}/cancel", headers=headers)
        assert cancelled.status_code == 200 and cancelled.json()["payment_status"] == "cancelled"
