"""Rendering pages: the Jinja2 environment, the page language, and what every page shows.

Templates get ``t`` (the catalogue for the page's language), ``lang``, the CSRF token the
security middleware issued, whether the service runs in demo mode, and the language-switch link.
The language comes from ``?lang=ko|en`` (remembered in a cookie), then the cookie, then Korean.

Page routers (the holder's pages, the institution console) answer a domain error the same way:
the handler runs its service call inside ``on_error_show``, which renders the page again with
the message in place; ``PageAnswer`` carries that response (or a login redirect) out of the handler
and ``PageRoute`` sends it.

A form post the CSRF check refuses never reaches a handler: ``csrf_refused_page`` is the page the
security middleware answers a browser with, linking back to the form's page (``form_page``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.routing import Match

from fincert.errors import FincertError, InvalidFields
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

# JSON shown as text (the console's audit details): Korean stays readable (한빛은행, not
# \ud55c\ube5b...), and autoescaping applies as to any text (``tojson`` is for scripts).
environment.filters["json_text"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)

ISSUE_STEPS = ("step.institution", "step.signup", "step.apply", "step.verify", "step.store")
REISSUE_STEPS = ("step.reissue.apply", "step.verify", "step.reissue.process", "step.store")


def page_language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    return remembered if remembered in LANGUAGES else "ko"


#: The page (GET) that shows the step a form posts from: a page drawn in answer to a POST (a form
#: shown again with its error, a handout, a result) switches language by opening that page, since
#: its own path takes no GET (the browser would land on "page not found").
_PAGE_OF_FORM: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), page)
    for pattern, page in (
        (r"^/issue/institutions/([^/]+)/(?:signup|login)$", r"/issue/institutions/\1"),
        (r"^/(issue|reissue|manage)/(?:verify/[^/]+(?:/start)?|verify-demo/enroll|verify-complete)$", r"/\1/verify"),
        # The done page (a store page shown again switches with its form: ``switch_form``).
        (r"^/(?:issue|reissue|manage)/store$", "/certificates"),
        (r"^/certificates/.*$", "/certificates"),
        (r"^/applications/open/.*$", "/issue/apply"),
        (r"^/console/members/(\d+)/enroll$", r"/console/members/\1"),
        (r"^/console/certificates/.*$", "/console/certificates"),
        (r"^/console/(?:login|demo-operator|logout)$", "/console"),
        (r"^/logout$", "/"),
    )
)


def page_of_form(path: str) -> str | None:
    """The page (GET) of the step whose form posts to ``path``; None for a path no form posts to."""
    for pattern, page in _PAGE_OF_FORM:
        if pattern.match(path):
            return pattern.sub(page, path)
    return None


#: A link target that stays on this site: a path of printable ASCII, no backslash (a browser reads
#: ``/\host`` as ``//host``) and not ``//`` (another host).
_OWN_PATH = re.compile(r"/(?![/\\])[!-\[\]-~]*")


def _is_page(request: Request, target: str) -> bool:
    """Whether ``target`` (a path, maybe with a query) is one of this site's pages a GET opens."""
    path = target.split("?", 1)[0]
    if not _OWN_PATH.fullmatch(target) or path.startswith("/api/"):
        return False
    scope = {**request.scope, "method": "GET", "path": unquote(path)}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def form_page(request: Request) -> str:
    """The page a form posted from, as a path on this site (never another site's URL): the
    Referer when it names a page of this site, else the page of the form's step, else the start
    page. (The pages send no Referer themselves: their policy is ``no-referrer``.)"""
    referer = urlsplit(request.headers.get("referer", ""))
    candidates = [page_of_form(request.url.path) or request.url.path]
    if referer.netloc and referer.netloc == request.headers.get("host"):
        candidates.insert(0, referer.path + ("?" + referer.query if referer.query else ""))
    start = "/console" if request.url.path.startswith("/console") else "/"
    return next((target for target in candidates if _is_page(request, target)), start)


def csrf_refused_page(request: Request) -> HTMLResponse:
    """What a browser gets for a form post without this browser's CSRF token (``api.security``):
    a 403 page in the page's language asking to reload, with a link back to the form's page,
    where the step is shown again as the session and cookies left it (nothing was changed)."""
    console = request.url.path.startswith("/console")
    return render(request, "csrf_refused.html", {"back": form_page(request), "console": console}, status=403)


def switch_url(request: Request, lang: str) -> str:
    if request.method not in ("GET", "HEAD"):
        path = page_of_form(request.url.path) or request.url.path
        # The form's own query (``?lang=``, ``?next=`` of a login) is not the page's.
        return path + "?" + urlencode([("lang", lang)])
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
    """``{field: message}`` for one domain error, in the page's language (each field of an
    ``InvalidFields``: every wrong field is shown at once)."""
    console = request.url.path.startswith("/console")
    language = page_language(request)
    each = error.errors if isinstance(error, InvalidFields) else [error]
    messages: dict[str, str] = {}
    for one in each:
        messages.setdefault(one.field or default_field, error_text(one, language, subject=default_field, console=console))
    return messages


class PageAnswer(Exception):
    """Raised inside a page handler to answer with ``response`` instead: the login redirect, or
    the form shown again after a domain error. ``PageRoute`` sends it."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PageRoute(APIRoute):
    """A page route: a handler that raises ``PageAnswer`` is answered with its response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answering(request: Request) -> Response:
            try:
                return await handler(request)
            except PageAnswer as answer:
                return answer.response

        return answering


class _SeenErrors(dict[str, str]):
    """The errors handed to a template, noting which fields the template looked up: a template
    reads ``errors[field]`` exactly where it shows that field's message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.seen: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.seen.add(key)
        return super().__getitem__(key)


def page_again(error: FincertError, page: Callable[..., Response], request: Request, *args: Any,
                default_field: str = "_form", errors_as: str = "errors", **kept: Any) -> Response:
    """``page(request, *args)`` again after ``error``: with its status, and its message in the
    page's language under ``errors_as``, next to its field (``default_field`` when it names none).
    ``kept`` is what the page shows again: what was typed, never a secret.

    A page may have no place for the error's field (a field of a form the page does not show,
    a certificate row that is not on it): the page is then drawn once more with the message as
    the form's own (``_form``, shown at the top), so the holder never gets a bare 4xx page."""
    messages = form_error(request, error, default_field=default_field)
    errors = _SeenErrors(messages)
    response = page(request, *args, status=error.http_status, **{errors_as: errors}, **kept)
    unseen = [field for field in messages if field not in errors.seen]
    if unseen:
        shown = {field: text for field, text in messages.items() if field in errors.seen}
        shown["_form"] = " ".join(messages[field] for field in unseen)
        response = page(request, *args, status=error.http_status, **{errors_as: shown}, **kept)
    return response


@contextlib.contextmanager
def on_error_show(page: Callable[..., Response], request: Request, *args: Any, **again: Any) -> Iterator[None]:
    """Run the block's domain step; on a FincertError the handler answers with ``page`` again
    (``page_again``, which takes ``again``)."""
    try:
        yield
    except FincertError as error:
        raise PageAnswer(page_again(error, page, request, *args, **again)) from error
