"""Issue 19 item 7: the sandbox calls the port the service listens on, when that port comes
from `--port` rather than `PORT` (its callbacks used to go to 8000, and the order waited for
expiry)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.backends import free_port
from tests.local_http import local_get, local_sync_client
from tests.payhero_fixtures import ORDER
from tests.process_harness import ROOT, sandbox_env

pytestmark = pytest.mark.slow


def test_a_sandbox_started_with_port_gets_its_callbacks(tmp_path: Path) -> None:
    port, elsewhere = free_port(), free_port()  # nothing listens on `elsewhere`
    env = {
        **os.environ,
        **sandbox_env(tmp_path, SANDBOX_DELAY="0.2"),
        "PORT": str(elsewhere),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    command = [
        sys.executable,
        "-m",
        "server.launcher",
        "server.app:create_app",
        "--factory",
        "--port",
        str(port),
    ]
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "service.log").read_text()
            try:
                if local_get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
        with local_sync_client(base, timeout=60) as http:
            order = http.post("/api/orders", json={**ORDER, "phone": "0712345678"}).json()
            while order["payment_status"] in {"pending", "processing"}:
                order = http.get(order["wait_url"], params={"since": order["version"]}).json()
        assert order["payment_status"] == "completed"
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()
