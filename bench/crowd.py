"""One process of bench.hundred_k's load client, driven over its stdin and stdout.

    python -m bench.crowd     (started by bench.hundred_k, never by hand)

One process holds at most its open-file limit of connections and, from one source address,
about 28,000 ports towards one server port; bench.hundred_k starts several, each from its
own 127.0.0.x. Each line on stdin is a JSON command, each answer one JSON line on stdout:

    {"setup": {"port", "source", "hold", "batch", "plan": [[kind, order_id, number], ...]}}
    {"open": n}          open the next n waiters of the plan -> {"opened", "errors"}
    {"report": [ids]}    -> {"heard": {id: perf_counter}, "errors", "finished"}
    {"stop": true}       close every waiter and exit

Times are `perf_counter()`, CLOCK_MONOTONIC on Linux: one clock for every process of the
machine, so the parent subtracts its send times from them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

from bench import runner
from bench.orders import Order
from bench.waiters import FirstChanges, Waiter, close_all, errors, open_waiters

# A setup line carries a whole plan: tens of thousands of orders.
LINE_LIMIT = 1 << 26


@dataclass
class Remote:
    port: int


class Crowd:
    def __init__(self, setup: dict[str, Any]) -> None:
        self.server = Remote(int(setup["port"]))
        self.source = str(setup["source"])
        self.hold = float(setup["hold"])
        self.batch = int(setup["batch"])
        self.plan = [(kind, Order(order_id, number)) for kind, order_id, number in setup["plan"]]
        self.waiters: list[Waiter] = []
        self.heard = FirstChanges()

    async def open(self, count: int) -> dict[str, Any]:
        start = len(self.waiters)
        self.waiters += await open_waiters(
            self.server,
            self.plan[start : start + count],
            hold=self.hold,
            batch=self.batch,
            on_status=self.heard,
            timeout=1800.0,
            source=self.source,
        )
        return {"opened": len(self.waiters), "errors": dict(errors(self.waiters))}

    def report(self, order_ids: list[str]) -> dict[str, Any]:
        heard = {o: self.heard.at[o] for o in order_ids if o in self.heard.at}
        finished = sum(1 for w in self.waiters if w.finished is not None and w.finished.done())
        return {"heard": heard, "errors": dict(errors(self.waiters)), "finished": finished}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    crowd: Crowd | None = None

    def answer(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        if "setup" in command:
            crowd = Crowd(command["setup"])
            answer({"ready": len(crowd.plan)})
            continue
        assert crowd is not None, "setup comes first"
        if "open" in command:
            answer(await crowd.open(int(command["open"])))
        elif "report" in command:
            answer(crowd.report(command["report"]))
        elif "stop" in command:
            close_all(crowd.waiters)
            answer({"stopped": len(crowd.waiters)})
            return


if __name__ == "__main__":
    runner.run(serve())
