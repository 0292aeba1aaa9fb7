"""A loopback HTTP proxy in front of a real Ray head that answers the way a head does while it
starts: the first job submissions get Ray's own "No available agent to submit job, please try
again later" (HTTP 500), the first job listings a reset connection. Everything else goes through
to the real dashboard unchanged."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import ClientSession, web

NO_AGENT = "No available agent to submit job, please try again later."


@dataclass
class FlakyProxy:
    """Forwards to ``target``; ``refuse_submits`` / ``reset_lists`` say how many to spoil."""

    target: str
    refuse_submits: int = 2
    reset_lists: int = 2
    refused: int = 0
    resets: int = 0
    address: str = ""
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path == "/api/jobs/" and self.refused < self.refuse_submits:
            self.refused += 1
            await request.read()
            return web.Response(status=500, text=NO_AGENT)
        if request.method == "GET" and request.path == "/api/jobs/" and self.resets < self.reset_lists:
            self.resets += 1
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-request
            return web.Response(status=500)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with ClientSession() as session:
            async with session.request(request.method, self.target + request.path_qs, headers=headers,
                                       data=await request.read()) as answer:
                body = await answer.read()
                return web.Response(status=answer.status, body=body,
                                    content_type=answer.content_type if body else None)

    def start(self) -> FlakyProxy:
        """Serve on a free port of 127.0.0.1 from a thread of its own."""
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application(client_max_size=1024**3)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = self._runner.addresses[0][1]
            self.address = f"http://127.0.0.1:{port}"
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
