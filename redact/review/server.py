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
from importlib import resources
from pathlib import Path
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from redact.errors import RedactError
from redact.review.session import ReviewSession, jpeg

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
STATIC = Path(str(resources.files("redact.review").joinpath("static")))


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

        async def secured(message: dict[str, Any]) -> None:
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


def create_app(session: ReviewSession, token: str, port: int, on_close: Callable[[], None] = lambda: None) -> Starlette:
    """The page, its files and its API under /TOKEN/; ``on_close`` is called when the page says goodbye."""
    seen = {"last": time.monotonic(), "bye": None}

    def touch() -> None:
        seen["last"] = time.monotonic()

    def guarded(handler: Callable[[Request], Awaitable[Response] | Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:  # blocking work (decoding, JPEG) runs in the thread pool, never in the event loop
                if inspect.iscoroutinefunction(handler):
                    return await handler(request)
                return await run_in_threadpool(handler, request)
            except (RedactError, KeyError, IndexError, ValueError) as exc:
                return _error(exc)

        return endpoint

    def ready() -> None:
        if not session.ready:
            raise RedactError(f"not ready: {session.job.stage} is still running" if session.job.error is None else session.job.error)

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    def state(request: Request) -> Response:
        info = session.info
        body: dict[str, Any] = {
            "ready": session.ready, "job": session.job.to_dict(),
            "video": {"name": session.video.name, "width": info.width, "height": info.height,
                      "frame_rate": float(info.frame_rate)},
            "tracks_file": session.tracks_path.name, "output": session.output.name,
        }
        if session.ready:
            pts, tb = session.data["frames"]["pts"], session.plan.time_base
            body["video"]["frame_count"] = session.frame_count()
            body["video"]["start"] = float(pts[0] * tb) if pts else 0.0
            body["style"] = session.settings.style
            body["proxy_frames"] = session.proxy.done if session.proxy is not None else 0
        return JSONResponse(body)

    def summary(request: Request) -> Response:
        ready()
        return JSONResponse(session.summary())

    def times(request: Request) -> Response:
        ready()
        tb = session.plan.time_base
        first = session.data["frames"]["pts"][0] if session.data["frames"]["pts"] else 0
        return JSONResponse([round(float((p - first) * tb), 4) for p in session.data["frames"]["pts"]])

    def frame(request: Request) -> Response:
        ready()
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
            import cv2

            image = cv2.resize(image, (width, max(1, round(image.shape[0] * width / image.shape[1]))), interpolation=cv2.INTER_AREA)
        return Response(jpeg(image), media_type="image/jpeg")

    def regions(request: Request) -> Response:
        ready()
        return JSONResponse(session.regions(int(request.path_params["index"])))

    def thumb(request: Request) -> Response:
        ready()
        return Response(session.thumbnail(int(request.path_params["track"])), media_type="image/jpeg")

    async def edit(request: Request) -> Response:
        body = await _json(request)
        op = body.pop("op", None)
        ready()
        await run_in_threadpool(session.edit, op, body)
        return JSONResponse(await run_in_threadpool(session.summary))

    async def action(request: Request) -> Response:
        body = await _json(request)
        if body:  # the page never names files or options: anything it sends here is refused
            raise ValueError(f"refused: unexpected fields {', '.join(sorted(body))}; the page cannot choose paths")
        name = request.path_params["action"]
        ready()
        work = {
            "undo": session.undo, "redo": session.redo, "save": session.save,
            "render": lambda: session.start(session.render_and_verify, "render"),
        }.get(name)
        if work is None:
            return JSONResponse({"error": f"no action {name}"}, status_code=404)
        await run_in_threadpool(work)
        return JSONResponse(await run_in_threadpool(session.summary))

    async def bye(request: Request) -> Response:
        seen["bye"] = time.monotonic()

        def later() -> None:  # a reload comes back within the grace period; a closed page does not
            if seen["last"] <= seen["bye"]:
                on_close()

        threading.Timer(3.0, later).start()
        return JSONResponse({})

    routes = [
        Route("/", guarded(index)),
        Route("/api/state", guarded(state)),
        Route("/api/summary", guarded(summary)),
        Route("/api/times", guarded(times)),
        Route("/api/frame/{index:int}.jpg", guarded(frame)),
        Route("/api/regions/{index:int}", guarded(regions)),
        Route("/api/thumb/{track:int}.jpg", guarded(thumb)),
        Route("/api/edit", guarded(edit), methods=["POST"]),
        Route("/api/bye", guarded(bye), methods=["POST"]),
        Route("/api/{action:str}", guarded(action), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=[Route(f"/{token}", lambda r: RedirectResponse(f"/{token}/")), Mount(f"/{token}", routes=routes)])
    app.add_middleware(Guard, token=token, port=port, on_request=touch)
    app.state.seen = seen
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
            if not busy and time.monotonic() - app.state.seen["last"] > idle_seconds:
                close()

    threading.Thread(target=watchdog, name="redact-review-idle", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        session.shutdown()
