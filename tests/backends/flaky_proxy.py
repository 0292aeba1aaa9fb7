"""A loopback HTTP proxy in front of a real Ray head that answers the way a head does while it
starts, restarts or hangs: the first job submissions get Ray's own "No available agent to submit
job, please try again later" (HTTP 500), the first job listings a reset connection; on demand,
requests for one job's status are accepted and never answered (a wedged dashboard), the port
refuses connections for a while (a restarting head), and the live log stream (a websocket) drops
after its first message. Everything else goes through to the real dashboard unchanged."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import ClientSession, WSMsgType, web

NO_AGENT = "No available agent to submit job, please try again later."


@dataclass
class FlakyProxy:
    """Forwards to ``target``; ``refuse_submits`` / ``reset_lists`` say how many to spoil."""

    target: str
    refuse_submits: int = 2
    reset_lists: int = 2
    refused: int = 0
    resets: int = 0
    wedge_status: bool = False  # GET /api/jobs/<id>: accepted, never answered
    drop_tails: int = 0  # live log streams to drop after their first message
    tails: int = 0  # live log streams opened
    address: str = ""
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None
    _port: int = 0
    _released: asyncio.Event | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        if (self.wedge_status and request.method == "GET" and request.path.startswith("/api/jobs/")
                and request.path.rstrip("/") != "/api/jobs" and not request.path.endswith("/logs")):
            assert self._released is not None
            await self._released.wait()  # never answers (until the proxy stops)
            return web.Response(status=503)
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

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.tails += 1
        drop = self.drop_tails > 0
        self.drop_tails -= int(drop)
        client = web.WebSocketResponse()
        await client.prepare(request)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "cookie")}
        async with ClientSession() as session:
            async with session.ws_connect(self.target + request.path_qs, headers=headers) as upstream:
                async for message in upstream:
                    if message.type != WSMsgType.TEXT:
                        break
                    await client.send_str(message.data)
                    if drop:
                        assert request.transport is not None
                        request.transport.close()  # the stream drops mid-run
                        return client
        await client.close()
        return client

    def refuse_for(self, seconds: float) -> None:
        """Stop listening (connections are refused), and listen on the same port again after
        ``seconds``, as a head that restarts."""
        async def bounce() -> None:
            assert self._site is not None and self._runner is not None
            await self._site.stop()
            await asyncio.sleep(seconds)
            self._site = web.TCPSite(self._runner, "127.0.0.1", self._port)
            await self._site.start()

        asyncio.run_coroutine_threadsafe(bounce(), self._loop)

    def start(self) -> FlakyProxy:
        """Serve on a free port of 127.0.0.1 from a thread of its own."""
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._released = asyncio.Event()
            app = web.Application(client_max_size=1024**3)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(self._site.start())
            self._port = self._runner.addresses[0][1]
            self.address = f"http://127.0.0.1:{self._port}"
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._released is not None:
            self._loop.call_soon_threadsafe(self._released.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
