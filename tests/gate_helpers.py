"""Shared by the gate's API and page tests: paid tickets, and a catalogue whose event is over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.fulfilment_helpers import place, settled

GATE_TOKEN = "gate-staff-token-0123456789"
GATE = {"Authorization": f"Bearer {GATE_TOKEN}"}

# Codes the gate's camera decoder (the vendored ZXing, web/static/gate-frames.js) reads in a
# sharp 640x480 still only at a smaller width, each found among random codes in node
# (python -m bench.qr_reductions): the camera test plays them, the bench's smoke test
# decodes them.
# Not at full size, nor at any whole-pixel scale tried (zxing-cpp reads it); read at a half.
MISSED_AT_FULL_SIZE = "OH3iAp9if5VHnifE.kcpJBeSqwU5SyYyCRS5dYw"
# Only at a quarter: not at full, half or third width, in node nor through the fake camera.
READ_ONLY_AT_A_QUARTER = "VRjjddFU5Tix6_TE.V0r3JzOE945qXaB4XriuxQ"
# Only at a fifth: at none of full, half, third or quarter width, in node (area average and
# bilinear alike) nor through the fake camera.
READ_ONLY_AT_A_FIFTH = "4AAhx3pgrj_xbv_C.LBusAm7mzlg1CG42thrfu5"


async def paid_tickets(client: httpx.AsyncClient, quantity: int) -> list[dict[str, Any]]:
    order = await place(client, "amina@example.com", quantity=quantity)
    tickets: list[dict[str, Any]] = (await settled(client, order["order_id"]))["tickets"]
    return tickets


def ended_catalogue(directory: Path) -> Path:
    """The demo event, ended years ago: far past the default one-hour grace."""
    source = json.loads((Path(__file__).parent.parent / "server/data/catalogue.json").read_text())
    event = source["events"][0]
    event["starts_at"], event["ends_at"] = "2020-01-01T16:00:00+03:00", "2020-01-01T23:00:00+03:00"
    event.pop("rolls", None)  # the demo event rolls forward a year at a time; this one stays ended
    event.pop("sales_end", None)
    path = directory / "catalogue.json"
    path.write_text(json.dumps(source))
    return path
