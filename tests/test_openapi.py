"""`/openapi.json` describes every route the app has, with every method it answers."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.routing import Mount, Route

from server.app import create_app
from server.ops.openapi import openapi_document
from server.settings import Settings
from tests.ops_helpers import served


def test_every_route_and_method_is_described(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())
    described = openapi_document()["paths"]
    missing = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # static files, not API; their traversal is tested in test_hostile_input
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {path:path} is {path} in OpenAPI
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method.lower() not in described.get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, f"add these to server/ops/openapi.py: {missing}"
    routed = {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in app.routes if isinstance(r, Route)}
    assert set(described) <= routed, "described paths the app does not have"


async def test_the_description_is_served_and_loads_in_schemathesis(
    make_settings: Callable[..., Settings],
) -> None:
    import schemathesis

    async with served(make_settings()) as (_, http):
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    raw = response.json()
    assert raw["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_dict(raw)
    operations = {
        (op.method.upper(), op.path) for op in (result.ok() for result in schema.get_all_operations())
    }
    assert ("GET", "/api/orders/{order_id}/events") in operations
    assert len(operations) == sum(len(methods) for methods in raw["paths"].values())


async def test_the_callback_secret_is_not_in_the_description(make_settings: Callable[..., Settings]) -> None:
    async with served(make_settings()) as (live, http):
        text = (await http.get("/openapi.json")).text
    assert live.services.settings.callback_token not in text


def test_the_event_listing_described_is_the_one_sent() -> None:
    # The description had lost three keys the listing gained (ends_at, sales_end, on_sale):
    # an outside client generated from it would have dropped them.
    from typing import get_type_hints

    from server.catalogue import EventListed
    from server.schemas import EventListing

    assert set(EventListing.model_fields) == set(get_type_hints(EventListed))
    listing = openapi_document()["components"]["schemas"]["EventListing"]
    assert set(listing["required"]) == set(get_type_hints(EventListed))
