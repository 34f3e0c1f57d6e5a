"""The console's HTTP side (aiohttp): login, pages, the live WebSocket, acknowledgements, analysis.

Nothing about a patient is served without a session, and a user sees only
the patients assigned to them (a forbidden patient is a 404, like an
unknown one, so ids cannot be probed).  Every POST carries the session's
CSRF token; the WebSocket checks that its Origin is this console's own.
Pages go out with a strict Content-Security-Policy (no inline script, no
framing) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from . import pages
from .analysis import AnalysisError, Analyses, safe_name
from .auth import LoginLimiter, Sessions, same, verify
from .calibration import Calibrations, recordings
from .config import ConsoleConfig
from .live import Client, Live
from .store import Store

log = logging.getLogger(__name__)

COOKIE = "ecg_session"
LOGIN_COOKIE = "ecg_login"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
#: the labels a clinician gives a cluster (MIT-BIH codes, as gateway.tools.clusters writes them)
LABELS = ("N", "A", "V", "F", "Q")
USER = web.RequestKey("user", object)  # str | None
CSRF = web.RequestKey("csrf", object)
PATIENTS = web.RequestKey("patients", frozenset)
FORM = web.RequestKey("form", object)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    """The aiohttp application and everything it needs, built from the configuration."""

    def __init__(self, config: ConsoleConfig, store: Store, live: Live, *, clock: Callable[[], float] = time.time):
        self.config, self.store, self.live, self.clock = config, store, live, clock
        self.sessions = Sessions(store, config.security.session_hours * 3600)
        s = config.security
        self.limiter = LoginLimiter(s.login_window_s, s.max_failures_per_account, s.max_failures_per_address)
        self.analyses = Analyses(config.state_dir)
        self.calibrations = Calibrations(config.state_dir, config.recordings_dir, config.adaptation_dir)
        self.secure = config.http.tls is not None or config.http.secure_cookie

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers, self._session],
                              client_max_size=int(self.config.http.max_upload_mb * (1 << 20)))
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/", self.overview)
        app.router.add_get("/patient/{patient}", self.patient)
        app.router.add_get("/alert/{alert}/strip.png", self.strip)
        app.router.add_post("/alert/{alert}/ack", self.ack)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/analysis", self.analysis_form)
        app.router.add_post("/analysis", self.analysis)
        app.router.add_get("/report/{token}", self.report)
        app.router.add_get("/report/{token}/file", self.report_file)
        app.router.add_get("/calibration/{patient}", self.calibration_form)
        app.router.add_post("/calibration/{patient}", self.calibration)
        app.router.add_get("/calibration/{patient}/{token}", self.clusters)
        app.router.add_post("/calibration/{patient}/{token}", self.fit)
        app.router.add_static("/static", Path(__file__).parent / "static")
        return app

    # -- middlewares -------------------------------------------------------------------------------
    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge:
            response = self._error(request, 413, f"The upload is larger than {self.config.http.max_upload_mb:g} MB.")
        except web.HTTPNotFound:
            response = self._error(request, 404, "Not found.")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @web.middleware
    async def _session(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        found = self.sessions.find(request.cookies.get(COOKIE), self.clock())
        request[USER], request[CSRF] = found if found else (None, None)
        request[PATIENTS] = frozenset(self.store.patients_of(request[USER])) if found else frozenset()
        public = request.path in ("/login",) or request.path.startswith("/static/")
        if not public and request[USER] is None:
            if request.method == "GET" and request.path != "/ws":
                raise web.HTTPSeeOther("/login")
            return self._error(request, 401, "Log in first.")
        if request.method == "POST" and request.path != "/login":
            if not self._same_origin(request):
                return self._error(request, 403, "Cross-site request refused.")
            form = await request.post()
            if not same(form.get("csrf") or request.headers.get("X-CSRF-Token"), request[CSRF]):
                return self._error(request, 403, "The form has expired; reload the page.")
            request[FORM] = form
        return await handler(request)

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        return origin is None or urlsplit(origin).netloc == request.host

    def _error(self, request: web.Request, status: int, message: str) -> web.Response:
        return web.Response(status=status, content_type="text/html",
                            text=pages.error_page(status, message, request.get(USER), request.get(CSRF)))

    def _page(self, html: str, status: int = 200) -> web.Response:
        return web.Response(text=html, content_type="text/html", status=status)

    def _patient_of(self, request: web.Request, patient: str) -> str:
        if patient not in request[PATIENTS]:
            raise web.HTTPNotFound()  # the same as an unknown patient
        return patient

    # -- login -----------------------------------------------------------------------------------
    async def login_form(self, request: web.Request) -> web.Response:
        if request[USER] is not None:
            raise web.HTTPSeeOther("/")
        return self._login_page(request, "")

    def _login_page(self, request: web.Request, message: str, status: int = 200) -> web.Response:
        # one token per browser until it logs in: a second tab (or the favicon's redirect) keeps the first form valid
        token = request.cookies.get(LOGIN_COOKIE) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
            token = secrets.token_urlsafe(24)
        response = self._page(pages.login_page(token, message), status)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=self.secure, path="/login")
        return response

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self._same_origin(request) or not same(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
            return self._login_page(request, "The login form has expired; try again.", 403)
        name, password = str(form.get("user", ""))[:64], str(form.get("password", ""))[:1024]
        address = request.remote or "?"
        now = self.clock()
        wait = self.limiter.retry_after(name, address, now)
        if wait > 0:
            log.warning("login of %r from %s refused: too many failed attempts", name, address)
            return self._login_page(request, f"Too many failed logins; try again in {int(wait) + 1} s.", 429)
        if not await asyncio.to_thread(verify, self.store, name, password):
            self.limiter.failed(name, address, now)
            log.warning("failed login of %r from %s", name, address)
            return self._login_page(request, "Wrong user name or password.", 401)
        self.limiter.succeeded(name)
        log.info("%s logged in from %s", name, address)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, self.sessions.open(name, now), httponly=True, samesite="Strict",
                            secure=self.secure, path="/")
        response.del_cookie(LOGIN_COOKIE, path="/login")
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        self.sessions.close(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # -- pages -----------------------------------------------------------------------------------
    async def overview(self, request: web.Request) -> web.Response:
        summaries = {p: self.live.summary(p) for p in sorted(request[PATIENTS])}
        return self._page(pages.overview_page(request[USER], request[CSRF], summaries))

    async def patient(self, request: web.Request) -> web.Response:
        patient = self._patient_of(request, request.match_info["patient"])
        return self._page(pages.patient_page(request[USER], request[CSRF], patient, self.live.summary(patient),
                                             list(self.live.state(patient).beats), self.store.alerts(patient),
                                             self.config.alerting.renotify_s))

    async def strip(self, request: web.Request) -> web.Response:
        found = self.store.strip(request.match_info["alert"])
        if found is None or found[1] is None:
            raise web.HTTPNotFound()
        self._patient_of(request, found[0])
        return web.Response(body=found[1], content_type="image/png")

    async def ack(self, request: web.Request) -> web.Response:
        alert = self.store.alert(request.match_info["alert"])
        if alert is None:
            raise web.HTTPNotFound()
        self._patient_of(request, alert["patient_id"])
        ack = self.live.acknowledge(alert, request[USER])
        log.info("%s acknowledged alert %s of %s", request[USER], alert["id"], alert["patient_id"])
        if request.headers.get("Accept") == "application/json":
            return web.json_response(ack.to_dict())
        raise web.HTTPSeeOther(f"/patient/{alert['patient_id']}")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return self._error(request, 403, "Cross-site WebSocket refused.")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        client = Client(request[USER], request[PATIENTS])
        self.live.clients.add(client)
        sender = asyncio.create_task(self._send(ws, client))
        try:
            await ws.send_json({"kind": "hello", "mqtt": self.live.connected,
                                "patients": {p: self.live.summary(p) for p in sorted(client.patients)}})
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    try:
                        wanted = json.loads(message.data).get("watch")
                    except (ValueError, AttributeError):  # not a {"watch": patient} object: ignored
                        continue
                    client.watching = wanted if wanted in client.patients else None
        finally:
            self.live.clients.discard(client)
            sender.cancel()
        return ws

    async def _send(self, ws: web.WebSocketResponse, client: Client) -> None:
        while True:
            message = await client.queue.get()
            await ws.send_json(message)

    # -- analysis ----------------------------------------------------------------------------------
    async def analysis_form(self, request: web.Request) -> web.Response:
        return self._page(pages.analysis_page(request[USER], request[CSRF], self.config.http.max_upload_mb))

    async def analysis(self, request: web.Request) -> web.Response:
        form = request[FORM]
        files = [f for f in form.getall("file", []) if hasattr(f, "file") and f.filename]
        token, folder = self.analyses.new_dir()
        try:
            if not files:
                raise AnalysisError("choose a file to upload")
            names = []
            for f in files:
                name = safe_name(f.filename)
                (folder / name).write_bytes(f.file.read())
                names.append(name)
            report = await self.analyses.run(token, request[USER], names, str(form.get("rate") or "") or None)
        except AnalysisError as e:
            self.analyses.discard(token)
            return self._page(pages.analysis_page(request[USER], request[CSRF], self.config.http.max_upload_mb,
                                                  str(e)), 400)
        log.info("%s analysed %s", request[USER], report.name)
        raise web.HTTPSeeOther(f"/report/{report.token}")

    async def report(self, request: web.Request) -> web.Response:
        report = self.analyses.find(request.match_info["token"], request[USER])
        if report is None:
            raise web.HTTPNotFound()
        return self._page(pages.report_frame_page(request[USER], request[CSRF], report.name, report.token,
                                                  report.summary))

    async def report_file(self, request: web.Request) -> web.StreamResponse:
        report = self.analyses.find(request.match_info["token"], request[USER])
        if report is None:
            raise web.HTTPNotFound()
        response = web.FileResponse(report.path, headers={"Content-Type": "text/html; charset=utf-8",
                                                          "Content-Security-Policy": REPORT_CSP})
        return response

    # -- calibration -------------------------------------------------------------------------------
    async def calibration_form(self, request: web.Request, message: str = "", status: int = 200) -> web.Response:
        patient = self._patient_of(request, request.match_info["patient"])
        return self._page(pages.calibration_page(request[USER], request[CSRF], patient,
                                                 recordings(self.config.recordings_dir, patient), message), status)

    async def calibration(self, request: web.Request) -> web.Response:
        patient = self._patient_of(request, request.match_info["patient"])
        form = request[FORM]
        try:
            start, stop = float(form.get("from", "")), float(form.get("to", ""))
        except ValueError:
            return await self.calibration_form(request, "From and To are seconds into the recording.", 400)
        try:
            token = await self.calibrations.cluster(request[USER], patient, str(form.get("record", "")), start, stop)
        except AnalysisError as e:
            return await self.calibration_form(request, str(e), 400)
        raise web.HTTPSeeOther(f"/calibration/{patient}/{token}")

    def _calibration_of(self, request: web.Request) -> tuple[str, str, dict]:
        patient = self._patient_of(request, request.match_info["patient"])
        token = request.match_info["token"]
        found = self.calibrations.find(token, request[USER], patient)
        if found is None:
            raise web.HTTPNotFound()
        return patient, token, found

    async def clusters(self, request: web.Request) -> web.Response:
        patient, token, found = self._calibration_of(request)
        return self._page(pages.clusters_page(request[USER], request[CSRF], patient, token, found, LABELS))

    async def fit(self, request: web.Request) -> web.Response:
        patient, token, found = self._calibration_of(request)
        form = request[FORM]
        labels = {c["id"]: str(form.get(f"label-{c['id']}", "-")) for c in found["clusters"]}
        labels = {k: v if v in LABELS else "-" for k, v in labels.items()}
        try:
            result = await self.calibrations.fit(token, patient, found, labels)
        except AnalysisError as e:
            return self._page(pages.clusters_page(request[USER], request[CSRF], patient, token, found, LABELS,
                                                  error=str(e)), 400)
        log.info("%s calibrated %s: %s", request[USER], patient, result)
        return self._page(pages.clusters_page(request[USER], request[CSRF], patient, token, found, LABELS,
                                              result=result))
