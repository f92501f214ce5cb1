"""The service: the only place that schedules (`diplomonitor run`).

scheduler.py  the APScheduler jobs, health endpoint and clean stop of one process
jobs.py       one run of one job: its lock, its period, its log line, its metrics
locks.py      one process at a time per job (PostgreSQL advisory locks; SQLite: one service)
health.py     /healthz and Prometheus /metrics
logs.py       JSON or text log lines, secrets masked
"""
