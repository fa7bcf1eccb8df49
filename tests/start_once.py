"""A child process for tests/test_concurrent_start.py: start the service's services, on cue.

It imports everything first and says `ready`; then each line on stdin is a database URL to
start once on (migrations, catalogue sync, connections), answered by one line: `started`,
or `failed` and the traceback (newlines escaped). Several children read their line at the
same moment, so their starts collide as workers starting together do.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback

from server.app import open_services
from server.settings import Settings


async def start_once(database_url: str) -> None:
    settings = Settings.from_env({**os.environ, "DATABASE_URL": database_url}, dotenv=None)
    async with open_services(settings):
        pass


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            asyncio.run(start_once(line.strip()))
        except Exception:
            print("failed", json.dumps(traceback.format_exc()), flush=True)
        else:
            print("started", flush=True)


if __name__ == "__main__":
    main()
