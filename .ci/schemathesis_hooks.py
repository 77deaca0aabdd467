"""Schemathesis hooks for .ci/schemathesis.sh: authentication.

Every request carries the first user's session token in the
Dayshift-Session-Token header, set by an auth provider so schemathesis' own
checks can still send requests without it. Some operations end sessions:
`POST /users/logout` the one it is sent with, `DELETE /users/{user}/sessions`
(and `/users/me/sessions`) all of a user's, `PUT /users/{user}/password` the
user's others. They get a fresh session of their own, and after any of them
succeeds the shared session is started anew.
"""
import http.client
import json
import os
import threading
import urllib.parse

import schemathesis

HEADER = "Dayshift-Session-Token"
ENDS_SESSIONS = ("/users/logout", "/sessions", "/password")

_lock = threading.Lock()
_shared = {"token": None}


def _login() -> str:
    # The hooks' own logins come from another loopback address than
    # schemathesis' requests: the server throttles failed logins per client
    # address, and schemathesis sends many wrong passwords while it explores
    # POST /users/login; they must not lock the hooks out (429).
    url = urllib.parse.urlsplit(os.environ["DAYSHIFT_URL"])
    connection = http.client.HTTPConnection(
        url.hostname, url.port, timeout=30, source_address=("127.0.0.2", 0)
    )
    try:
        connection.request(
            "POST",
            "/api/v2/users/login",
            body=json.dumps(
                {"username": "admin", "password": os.environ["DAYSHIFT_PASSWORD"]}
            ),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        body = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"hook login answered {response.status}: {body!r}")
        return json.loads(body)["session_token"]
    finally:
        connection.close()


def _shared_token() -> str:
    with _lock:
        if _shared["token"] is None:
            _shared["token"] = _login()
        return _shared["token"]


def _ends_sessions(case) -> bool:
    return case.operation.path.endswith(ENDS_SESSIONS) and case.method.upper() in ("POST", "DELETE", "PUT")


@schemathesis.auth(refresh_interval=3600)
class SessionToken:
    def get(self, case, context):
        return "shared"

    def set(self, case, data, context):
        token = _login() if _ends_sessions(case) else _shared_token()
        case.headers = case.headers or {}
        case.headers[HEADER] = token


@schemathesis.hook
def after_call(context, case, response):
    if _ends_sessions(case) and 200 <= response.status_code < 300:
        with _lock:
            _shared["token"] = None
