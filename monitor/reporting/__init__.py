"""Reporting: read-only views of the store (CSV exports, summaries, the monthly report).

selection.py  a period in UTC, filters, and the SQL they share
posts_csv.py  the posts export, streamed
summary.py    figures per account, country, topic or platform (`export summary`)
gather.py     the monthly report's figures; text.py its sentences; html.py and charts.py its page

This file stays free of imports: the CLI reads GROUPINGS from it while building `--help`.
"""

GROUPINGS = ("account", "country", "topic", "platform")  # what `export summary --by` groups on
