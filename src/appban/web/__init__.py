"""The dashboard (issue 6): server-rendered pages over the store, signed-in users, organisation-scoped.

`create_web(database, clock=..., secret=...)` builds the ASGI application that `appban serve` mounts for every
path outside the API and the gate (appban.server). Pages are Jinja2 templates (`templates/`), styles are one
static CSS file (`static/`), charts are SVG drawn on the server (`appban.web.charts`). docs/web.md describes the
pages, sign-in, users and accessibility.
"""

from appban.web.app import create_web
from appban.web.sessions import COOKIE, CSRF_FIELD, Session, Sessions

__all__ = ["COOKIE", "CSRF_FIELD", "Session", "Sessions", "create_web"]
