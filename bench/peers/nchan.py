"""Nchan, the nginx pub/sub module, as bench.compare's third server.

Debian: `apt-get install -y nginx-light libnginx-mod-nchan`. The bench writes its own
nginx configuration in a temporary directory (a free loopback port, one worker, every
path inside that directory) and runs nginx in the foreground as a process of its own,
never the system's nginx. The locations mirror this service's paths: an EventSource
subscriber whose events are named `status`, a long-poll subscriber, a publisher, and
`nchan_stub_status` for the count of subscribers held.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.http import HttpError
from bench.peers.targets import PeerProcess
from bench.service import HOST

MODULE_DIRS = (Path("/usr/lib/nginx/modules"), Path("/usr/share/nginx/modules"))
MODULE = "ngx_nchan_module.so"

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {files};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
load_module {module};
events {{
    worker_connections {files};
}}
http {{
    access_log off;
    keepalive_requests {keepalive_requests};
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    nchan_max_reserved_memory 256M;
    server {{
        listen {host}:{port} backlog=4096;
        location ~ ^/api/orders/([^/]+)/events$ {{
            nchan_subscriber eventsource;
            nchan_channel_id $1;
            nchan_eventsource_event status;
        }}
        location ~ ^/api/orders/([^/]+)/wait$ {{
            nchan_subscriber longpoll;
            nchan_channel_id $1;
        }}
        location ~ ^/api/orders/([^/]+)/publish$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
        location = /stats {{
            nchan_stub_status;
        }}
    }}
}}
"""


def nchan_module() -> Path | None:
    for folder in MODULE_DIRS:
        if (folder / MODULE).exists():
            return folder / MODULE
    return None


def missing() -> str | None:
    """Why Nchan cannot run here, or None when nginx and its nchan module are installed."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (Debian: apt-get install -y nginx-light libnginx-mod-nchan)"
    if nchan_module() is None:
        return f"nginx has no {MODULE} (Debian: apt-get install -y libnginx-mod-nchan)"
    return None


class Nchan(PeerProcess):
    name = "nchan"
    ready_path = "/stats"
    # nginx's default, written out: a keep-alive connection ends after this many requests,
    # so a publisher sending more (bench.compare's --messages and --flood together) has to
    # open a new one (PeerProcess.publish); the smoke test sets it low to cross it.
    keepalive_requests = 1000

    def __init__(self, data_dir: Path, *, files: int = 20_000) -> None:
        super().__init__(data_dir)
        self.files = files
        self.config = data_dir / "nginx.conf"

    def command(self) -> list[str]:
        module = nchan_module()
        assert module is not None, missing()
        for folder in ("body", "proxy"):
            (self.data_dir / folder).mkdir(exist_ok=True)
        self.config.write_text(
            CONFIG.format(
                dir=self.data_dir,
                module=module,
                files=self.files,
                host=HOST,
                port=self.port,
                keepalive_requests=self.keepalive_requests,
            )
        )
        nginx = shutil.which("nginx") or "nginx"
        error_log = self.data_dir / "error.log"
        return [nginx, "-p", str(self.data_dir), "-c", str(self.config), "-e", str(error_log)]

    async def held(self) -> float:
        status, body = await self.get("/stats")
        if status != 200:
            raise HttpError(f"nchan_stub_status answered {status}")
        for line in body.decode().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "subscribers":
                return float(value)
        raise HttpError("nchan_stub_status gave no subscriber count")

    def log_errors(self) -> list[str]:
        log = self.data_dir / "error.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        levels = ("[error]", "[crit]", "[alert]", "[emerg]")
        return [line for line in text.splitlines() if any(level in line for level in levels)]
