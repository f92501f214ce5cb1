import urllib.request, urllib.error
import pytest
from tests.service.conftest import http_get

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_smoke(serve, dashboard_settings):
    url = serve(dashboard_settings())
    for path in ["/", "/accounts", "/accounts/bluesky/diplomatie.gouv.fr", "/posts", "/posts?month=2026-10&page=1",
                 "/alerts", "/reports", "/reports/view?month=2026-10", "/posts?format=csv&month=2026-10", "/?format=json", "/static/dashboard.css"]:
        status, body = http_get(url + path)
        print(path, status, len(body), body[:300] if status != 200 else "")
