"""Collection: for each account, the collector's pages -> Post records -> the store.

rounds.py   a round over every due account, engagement and profile refreshes, handle resolution
walk.py     one account's crash-safe walk (one transaction per page with its cursor)
fanout.py   one task per account on a thread pool, spread across hosts
store.py    idempotent writes: upserts by (platform, uri), snapshots only on change
"""
