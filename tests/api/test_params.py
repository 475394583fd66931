"""Numbers and times in the URL: ASCII digits within bounds on every route that reads one, or a 400
naming the parameter; never a 500 from int(), the database or an overflow."""

from __future__ import annotations

from tests.factories import bearer, make_user_with_token

NUMBER_PARAMS = [
    ("/api/v1/admin/payments", "limit"),
    ("/api/v1/admin/payment-flags", "limit"),
    ("/api/v1/admin/users", "limit"),
    ("/api/v1/admin/credits/audit", "limit"),
    ("/api/v1/credits/history", "limit"),
    ("/api/v1/templates", "limit"),
    ("/api/v1/templates/public", "offset"),
]
TIME_PARAMS = [
    ("/api/v1/admin/payments", "since"),
    ("/api/v1/admin/payments", "until"),
    ("/api/v1/admin/payments/summary", "since"),
    ("/api/v1/admin/payments/summary", "until"),
    ("/api/v1/credits/history", "from"),
    ("/api/v1/admin/credits/report", "to"),
]
NOT_WHOLE_NUMBERS = ["²", "٣", " 7", "1_0", "-1", "9" * 5000, "99999999999999999999", "253402300800000"]


async def test_numbers_and_times_in_the_url_are_ascii_and_bounded(services, client):
    _, token = await make_user_with_token(services, role="admin")
    admin = bearer(token)
    for path, name in NUMBER_PARAMS + TIME_PARAMS:
        for value in NOT_WHOLE_NUMBERS:
            response = await client.get(path, params={name: value}, headers=admin)
            assert response.status_code == 400, (path, name, value[:30], response.status_code, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_request" and name in error["message"], (path, name, error)
        good = "007" if (path, name) in NUMBER_PARAMS else "253402300799999"
        response = await client.get(path, params={name: good}, headers=admin)
        assert response.status_code == 200, (path, name, response.text)
    since = await client.get("/api/v1/admin/payments", params={"since": "2999-01-01"}, headers=admin)
    assert since.status_code == 200 and since.json()["payments"] == []  # an ISO date without a zone is UTC
