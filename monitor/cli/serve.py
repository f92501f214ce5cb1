"""`diplomonitor serve`: the dashboard alone, beside the service or on another machine."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from monitor.cli.app import App, pass_app

log = logging.getLogger("monitor.serve")


@click.command()
@click.option("--address", metavar="HOST:PORT",
              help="Where to listen (default: [dashboard] address, else 127.0.0.1:9465; port 0: any free "
                   "port). Anything but loopback needs DIPLOMONITOR_DASHBOARD_TOKEN or a trusted proxy "
                   "header.")  # fmt: skip
@pass_app
def serve(app: App, address: str | None) -> None:
    """Serve the dashboard until stopped (Ctrl-C or SIGTERM), running no job.

    Reads the database (PostgreSQL or the service's SQLite file) and writes only the mutes and
    acknowledgements an admin makes; /healthz says whether the database answers.
    """
    from monitor.compose import SERVE_ADDRESS, build_dashboard, dashboard_access, dashboard_engine
    from monitor.config import check_address
    from monitor.errors import MonitorError
    from monitor.service.health import database_answers
    from monitor.service.logs import configure_logging, settings_secrets
    from monitor.service.web import WebServer, dispatch, exposure

    settings = app.settings
    where = address or settings.dashboard.address or SERVE_ADDRESS
    try:
        check_address(where)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    try:
        exposure(where, dashboard_access(settings))  # before anything else: one line, nothing started
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from None
    s = settings.service
    configure_logging(s.log_format, s.log_level, settings_secrets(settings.secrets, settings.database_url))
    app.ready_engine()
    engine = dashboard_engine(settings)
    try:
        dashboard = build_dashboard(settings, engine, where)
    except MonitorError as exc:
        engine.dispose()
        raise click.ClickException(str(exc)) from None

    def healthz(environ: dict, start_response: object) -> list[bytes]:
        ok = database_answers(engine)
        body = b"ok\n" if ok else b"database does not answer\n"
        start_response("200 OK" if ok else "503 Service Unavailable",  # type: ignore[operator]
                       [("Content-Type", "text/plain; charset=utf-8")])  # fmt: skip
        return [body]

    try:
        server = WebServer(where, dispatch([("/healthz", healthz)], dashboard), name="dashboard")
    except OSError as exc:
        engine.dispose()
        raise click.ClickException(f"cannot serve the dashboard on {where}: {exc}") from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server.start()
    log.info("dashboard on %s/", server.url, extra={"fields": {"dashboard_url": server.url}})
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("dashboard stopped")
