"""Schemathesis hooks for .ci/schemathesis.sh: authentication.

Every request carries the first user's session token in the
Dayshift-Session-Token header (as an auth provider, so schemathesis' own
checks can still send requests without it). `POST /api/v2/users/logout`
and `DELETE /api/v2/users/{user}/sessions` end the session they are sent
with (the latter when `{user}` names the caller), so each of them gets a
fresh session of its own and the shared one stays valid.
"""
import json
import os
import urllib.request

import schemathesis

HEADER = "Dayshift-Session-Token"
ENDS_SESSIONS = ("/users/logout", "/users/{user}/sessions")


def _login() -> str:
    request = urllib.request.Request(
        os.environ["DAYSHIFT_URL"] + "/api/v2/users/login",
        data=json.dumps(
            {"username": "admin", "password": os.environ["DAYSHIFT_PASSWORD"]}
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["session_token"]


@schemathesis.auth(refresh_interval=3600)
class SessionToken:
    def get(self, case, context):
        return _login()

    def set(self, case, data, context):
        token = _login() if case.operation.path.endswith(ENDS_SESSIONS) else data
        case.headers = case.headers or {}
        case.headers[HEADER] = token
