"""Rendering pages: the Jinja2 environment, the page language, and what every page shows.

Templates get ``t`` (the catalogue for the page's language), ``lang``, the CSRF token the
security middleware issued, whether the service runs in demo mode, and the language-switch link.
The language comes from ``?lang=ko|en`` (remembered in a cookie), then the cookie, then Korean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from fincert.errors import FincertError
from fincert.web.i18n import LANGUAGES, Catalogue, error_text
from fincert.web.sessions import LANG_COOKIE

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

ISSUE_STEPS = ("step.institution", "step.signup", "step.apply", "step.verify", "step.store")
REISSUE_STEPS = ("step.reissue.apply", "step.verify", "step.reissue.process", "step.store")


def page_language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    return remembered if remembered in LANGUAGES else "ko"


def switch_url(request: Request, lang: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return request.url.path + "?" + urlencode(params)


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HTMLResponse:
    lang = page_language(request)
    t = Catalogue(lang)
    runtime = request.app.state.runtime
    full = {
        "request": request,
        "lang": lang,
        "t": t,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "demo": bool(runtime.settings.demo),
        "other_lang": "en" if lang == "ko" else "ko",
        "switch_url": switch_url(request, "en" if lang == "ko" else "ko"),
        "errors": {},
        "form": {},
        **(context or {}),
    }
    response = HTMLResponse(environment.get_template(template).render(full), status_code=status)
    response.headers["cache-control"] = "no-store"
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: 303 so the browser follows with GET (no resubmission)."""
    return RedirectResponse(url, status_code=303)


def form_error(request: Request, error: FincertError, *, default_field: str = "_form") -> dict[str, str]:
    """``{field: message}`` for one domain error, in the page's language."""
    return {error.field or default_field: error_text(error, page_language(request), subject=default_field)}
