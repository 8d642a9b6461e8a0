"""The web app's routes: the holder's pages, the institution console and their static files.

Static files are served by a plain route (not a mount) so that the app factory's router
discovery is all it takes; paths are resolved inside ``web/static`` and nothing else.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException

from fincert.web import console, pages
from fincert.web.rendering import STATIC, csrf_refused_page, render

router = APIRouter(include_in_schema=False)

_STATIC_ROOT = STATIC.resolve()


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    try:
        target = (_STATIC_ROOT / path).resolve()
        found = target.is_relative_to(_STATIC_ROOT) and target.is_file()
    except (ValueError, OSError):
        # A NUL byte (ValueError) or a name too long for the file system (OSError) names no file.
        found = False
    if not found:
        # The problem document, or the "page not found" page for a browser (``api.problems``).
        raise HTTPException(404, "Not Found")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        media_type = "text/javascript"
    return FileResponse(target, media_type=media_type, headers={"cache-control": "public, max-age=300"})


router.include_router(console.router)
router.include_router(pages.router)


def page_for_browser(request: Request) -> Response:
    """What a browser gets for a path that is no page (``api.problems`` asks): the "page not
    found" page, in the page's language, with the console's header under ``/console``."""
    return render(request, "not_found.html", {"console": request.url.path.startswith("/console")}, status=404)


def page_for_stale_form(request: Request) -> Response:
    """What a browser gets for a form post without this browser's CSRF token (``api.security``
    asks): the "reload the page" page, linking back to the form's page."""
    return csrf_refused_page(request)
