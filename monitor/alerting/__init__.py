"""Alerting: window metrics in SQL -> alerts.rules -> state change -> outbox -> alerts.channels.

scope.py            the active accounts, a rule's scope members, the conditions on posts
metrics.py          a rule's metric per member, one GROUP BY in the database
overperformance.py  a post's engagement at an age against its account's median at that age
evaluate.py         evaluate rules, open and resolve alerts (one per rule, scope and window)
evidence.py         the posts quoted in an alert or a digest
outbox.py           one delivery per message and channel, sent at least once, never lost
digests.py          daily and weekly digests, enqueued once per period
"""
