"""The review page's server: a thin Starlette layer over ReviewSession, for one person on this machine.

Security, since the footage is sensitive: it listens on 127.0.0.1 only; every
request must carry the random token as the first part of its path; requests
whose Host or Origin is not this address are refused (DNS rebinding, other
sites); responses carry a strict Content-Security-Policy; no request can name
a file: the session's video, detections file and output are fixed at start.
"""

from __future__ import annotations

import hmac
import inspect
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, cast

import cv2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redact.errors import RedactError
from redact.review.studio.session import ReviewSession, jpeg

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
STATIC = Path(str(resources.files("redact.review.studio").joinpath("static")))


class Guard:
    """ASGI middleware: the Host, Origin and token checks, before anything else runs."""

    def __init__(self, app: ASGIApp, token: str, port: int, on_request: Callable[[], None]) -> None:
        self.app, self.token, self.on_request = app, token, on_request
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the page uses none: refuse before anything else sees it
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            return await PlainTextResponse(refusal, status_code=403, headers=HEADERS)(scope, receive, send)
        self.on_request()

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode()) for k, v in HEADERS.items() if k.lower().encode() not in names
                ]
            await send(message)

        await self.app(scope, receive, secured)

    def refusal(self, scope: Scope, headers: dict[str, str]) -> str | None:
        if headers.get("host") not in self.hosts:
            return "refused: wrong Host (this server answers only http://127.0.0.1)"
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return "refused: request from another site"
        if scope["method"] not in ("GET", "HEAD") and origin is None:
            return "refused: changes need the page's Origin"
        if headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            return "refused: request from another site"
        first = scope["path"].split("/")[1] if scope["path"].count("/") >= 1 else ""
        if not hmac.compare_digest(first.encode(), self.token.encode()):
            return "refused: missing or wrong token"
        return None


def _error(exc: Exception, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=status)


def guarded(handler: Callable[[Request], Awaitable[Response] | Response]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint whose expected failures become a JSON error (400), and whose blocking work
    (decoding, JPEG) runs in the thread pool, never in the event loop."""

    async def endpoint(request: Request) -> Response:
        try:
            if inspect.iscoroutinefunction(handler):
                return await handler(request)
            return await run_in_threadpool(cast(Callable[[Request], Response], handler), request)
        except (RedactError, KeyError, IndexError, ValueError) as exc:
            return _error(exc)

    return endpoint


class ReviewApi:
    """The page's requests, each a thin call into the session."""

    def __init__(self, session: ReviewSession, on_close: Callable[[], None]) -> None:
        self.session, self.on_close = session, on_close
        self.last_request = time.monotonic()
        self.bye_at: float | None = None

    def touch(self) -> None:
        self.last_request = time.monotonic()

    def ready(self) -> ReviewSession:
        session = self.session
        if not session.ready:
            raise RedactError(session.job.error or f"not ready: {session.job.stage} is still running")
        return session

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", guarded(lambda r: FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8"))),
            Route("/api/state", guarded(self.state)),
            Route("/api/summary", guarded(lambda r: JSONResponse(self.ready().summary()))),
            Route("/api/times", guarded(self.times)),
            Route("/api/frame/{index:int}.jpg", guarded(self.frame)),
            Route(
                "/api/regions/{index:int}",
                guarded(lambda r: JSONResponse(self.ready().regions(r.path_params["index"]))),
            ),
            Route("/api/thumb/{track:int}.jpg", guarded(self.thumb)),
            Route("/api/edit", guarded(self.edit), methods=["POST"]),
            Route("/api/bye", guarded(self.bye), methods=["POST"]),
            Route("/api/{action:str}", guarded(self.action), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]

    def state(self, request: Request) -> Response:
        session, info = self.session, self.session.info
        body: dict[str, Any] = {
            "ready": session.ready,
            "job": session.job.to_dict(),
            "video": {
                "name": session.video.name,
                "width": info.width,
                "height": info.height,
                "frame_rate": float(info.frame_rate),
            },
            "tracks_file": session.tracks_path.name,
            "output": session.output.name,
        }
        if session.ready:
            body["video"]["frame_count"] = session.frame_count()
            body["style"] = session.settings.style
            body["proxy_frames"] = session.proxy.done if session.proxy is not None else 0
        return JSONResponse(body)

    def times(self, request: Request) -> Response:
        """Each frame's time in seconds from the first frame, from the file's timestamps."""
        session = self.ready()
        return JSONResponse([round(seconds, 4) for seconds in session.timeline.frame_seconds])

    def frame(self, request: Request) -> Response:
        session = self.ready()
        index = int(request.path_params["index"])
        look = request.query_params.get("look", "original")
        if look not in ("original", "redacted"):
            raise ValueError("look must be original or redacted")
        if look == "original" and request.query_params.get("fast") == "1":  # scrubbing, playing: the proxy
            small = session.proxy.get(index) if session.proxy is not None else None
            if small is not None:
                return Response(small, media_type="image/jpeg")
        image = session.image(index, look == "redacted")
        width = int(request.query_params.get("w", "0") or 0)
        if 0 < width < image.shape[1]:
            height = max(1, round(image.shape[0] * width / image.shape[1]))
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        return Response(jpeg(image), media_type="image/jpeg")

    def thumb(self, request: Request) -> Response:
        return Response(self.ready().thumbnail(int(request.path_params["track"])), media_type="image/jpeg")

    async def edit(self, request: Request) -> Response:
        body = await _json(request)
        op = body.pop("op", None)
        session = self.ready()
        await run_in_threadpool(session.edit, op, body)
        return JSONResponse(await run_in_threadpool(session.summary))

    async def action(self, request: Request) -> Response:
        body = await _json(request)
        if body:  # the page never names files or options: anything it sends here is refused
            raise ValueError(f"refused: unexpected fields {', '.join(sorted(body))}; the page cannot choose paths")
        session, name = self.ready(), request.path_params["action"]
        work = {
            "undo": session.undo,
            "redo": session.redo,
            "save": session.save,
            "render": lambda: session.start(session.render_and_verify, "render"),
        }.get(name)
        if work is None:
            return JSONResponse({"error": f"no action {name}"}, status_code=404)
        await run_in_threadpool(work)
        return JSONResponse(await run_in_threadpool(session.summary))

    async def bye(self, request: Request) -> Response:
        """The page is closing: stop, unless it comes back (a reload) within the grace period."""
        self.bye_at = bye_at = time.monotonic()

        def later() -> None:
            if self.last_request <= bye_at:
                self.on_close()

        threading.Timer(3.0, later).start()
        return JSONResponse({})


def create_app(session: ReviewSession, token: str, port: int, on_close: Callable[[], None] = lambda: None) -> Starlette:
    """The page, its files and its API under /TOKEN/; ``on_close`` is called when the page says goodbye."""
    api = ReviewApi(session, on_close)
    app = Starlette(
        routes=[
            Route(f"/{token}", lambda r: RedirectResponse(f"/{token}/")),
            Mount(f"/{token}", routes=api.routes()),
        ]
    )
    app.add_middleware(Guard, token=token, port=port, on_request=api.touch)
    app.state.api = api
    return app


async def _json(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ValueError("expected application/json")
    body = await request.json() if await request.body() else {}
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def new_token() -> str:
    return secrets.token_urlsafe(24)


def local_socket() -> socket.socket:
    """A listening socket on 127.0.0.1 (never all interfaces) on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait from the moment the address is printed
    return sock


def serve(session: ReviewSession, sock: socket.socket, token: str, idle_seconds: float = 600.0) -> None:
    """Serve until Ctrl-C, the page closing, or no request for ``idle_seconds``; then stop the session's job."""
    import uvicorn

    port = sock.getsockname()[1]
    server: uvicorn.Server

    def close() -> None:
        server.should_exit = True

    app = create_app(session, token, port, on_close=close)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2))

    def watchdog() -> None:
        while not server.should_exit:
            time.sleep(1.0)
            busy = session.thread is not None and session.thread.is_alive()
            if not busy and time.monotonic() - app.state.api.last_request > idle_seconds:
                close()

    threading.Thread(target=watchdog, name="redact-review-idle", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        session.shutdown()
