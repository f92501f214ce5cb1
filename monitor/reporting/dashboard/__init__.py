"""The live dashboard: server-rendered pages over the reporting stage's own queries and charts.

    /                                   overview: collection health, firing alerts, the week, top posts
    /accounts?country=&group=&platform=&kind=&days=&sort=&order=
    /accounts/<platform>/<handle>?days= one account: weekly posts and engagement, followers, alerts
    /posts?q=&days=|month=|from=&to=&country=&group=&platform=&topic=&language=&tone=
          &replies=&reposts=&sort=&page=          (&format=csv: the CSV of the whole selection)
    /alerts?rule=&scope=&page=          firing, mutes, history with deliveries; POST mute/unmute/ack
    /reports, /reports/view?month=&country=&group=    the monthly report

Every list page takes `format=json`. `app.Dashboard` is the WSGI app; monitor.compose builds it,
and monitor.service.web puts the gate (sign-in, roles, CSRF, security headers) in front of it.
"""
