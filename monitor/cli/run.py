"""`diplomonitor run`: the long-running service, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import asdict
from types import FrameType

import click

from monitor.cli.app import App, pass_app
from monitor.compose import JOB_NAMES

log = logging.getLogger("monitor.run")


@click.command()
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(JOB_NAMES),
    metavar="JOB",
    help=f"Run only this job (repeatable), e.g. `--only score` for a scoring worker. "
    f"Jobs: {', '.join(JOB_NAMES)}.",
)
@click.option(
    "--health-address",
    metavar="HOST:PORT",
    help="Serve /healthz and /metrics here instead of [service].health_address (or "
    "$DIPLOMONITOR_HEALTH_ADDRESS); port 0 takes any free port, logged at start.",
)
@pass_app
def run(app: App, only: tuple[str, ...], health_address: str | None) -> None:
    """Run the service: collect, score, alert and deliver on the [schedule] until stopped.

    Serves /healthz and Prometheus /metrics on [service].health_address. SIGTERM or Ctrl-C
    lets the batch in hand finish (or roll back) and exits 0 within 10 seconds. Several
    processes may share one PostgreSQL database (each with its own health address); SQLite
    allows one.
    """
    from monitor.compose import build_service
    from monitor.config import check_address
    from monitor.errors import MonitorError
    from monitor.service.logs import configure_logging, settings_secrets

    if health_address:
        try:
            check_address(health_address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--health-address") from None
    settings = app.settings
    service_settings = settings.service
    where = health_address or service_settings.health_address
    configure_logging(
        service_settings.log_format,
        service_settings.log_level,
        settings_secrets(settings.secrets, settings.database_url),
    )
    described = {**settings.describe(), "schedule": asdict(settings.schedule), "only": list(only),
                 "health_address": where}  # fmt: skip
    log.info("starting diplomonitor (pid %d)", os.getpid(), extra={"fields": described})
    try:
        service = build_service(settings, only=only, health_address=health_address)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve health checks on {where}: {exc} (another process on this machine? give each "
            "its own address with --health-address or DIPLOMONITOR_HEALTH_ADDRESS; port 0 picks a free one)"
        ) from None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        service.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.start()
        service.wait()
    finally:
        left = service.shutdown()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if left:  # worker threads cannot be interrupted: leave now, the database rolls back their batch
        logging.shutdown()
        os._exit(0)
