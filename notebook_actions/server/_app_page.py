"""App pages: a served notebook as a web page whose widgets call the served pool.

Routes (under the server's base_url):

- ``GET  /notebook-actions/apps/{path}``: the page (see ``_app_render``), for a notebook
  this server serves; with ``jupyter notebook-actions serve`` and one notebook, ``GET /``
  redirects there.
- ``POST /notebook-actions/api/notebooks/{path}/inline/{action_id}``: call an action of
  the page's widgets by its id, with the same bodies and answers as an exported action's
  route (JSON, urlencoded or multipart in; JSON, bytes or server-sent events out). The
  ids are the pool's (``notebook_actions._action_ids``): any kernel of the pool answers.
- ``GET  /notebook-actions/static/apps/{file}``: the page's loader (``widgets/app.js``,
  ``widgets/http.js``).

The page needs the server's authentication like every other route: ``?token=`` logs a
browser in (jupyter-server sets its login cookie), and the page's calls then carry the
cookie and the XSRF token.
"""

from __future__ import annotations

import html
import json
import posixpath
import weakref
from typing import Any, cast

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_escape, url_path_join
from nbformat import NotebookNode
from tornado import web

from .._protocol import API_ROOT
from ..widgets._esm import HERE as WIDGETS
from ._app_calls import render_views
from ._app_render import prerendered, render_page, view_marker
from ._body import Invocation
from ._handlers import AUTH_RESOURCE, Extension, InvokeHandler
from ._pool import Pool, Unavailable
from ._problem import Problem
from ._serving import notebook_path

APPS_ROOT = "/notebook-actions/apps"
STATIC_ROOT = "/notebook-actions/static/apps"
#: The files of the page's loader, served from the widgets' folder.
LOADER_FILES = ("app.js", "http.js")


def app_url(path: str) -> str:
    """The path of a served notebook's app page, under the base URL."""
    return f"{APPS_ROOT}/{url_escape(notebook_path(path))}"


def not_served_message(path: str) -> str:
    return (
        f"{path} is not served by this server: serve it with `jupyter notebook-actions serve {path}` "
        "(or add it to c.NotebookActions.serve), then open its app page"
    )


def _served_pool(extension: Extension, path: str) -> Pool | None:
    return extension.serving.pool(path) if extension.serving is not None else None


#: Each pool's page and its views, with the primed notebook they were made from (made again
#: after a new prime).
_pages: weakref.WeakKeyDictionary[Pool, tuple[NotebookNode, str, dict[str, tuple[str, str]]]] = (
    weakref.WeakKeyDictionary()
)


class AppPageHandler(JupyterHandler):
    """The app page of a served notebook."""

    auth_resource = AUTH_RESOURCE

    @property
    def extension(self) -> Extension:
        return cast(Extension, self.settings["notebook_actions"])

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        message = exc.message if isinstance(exc, Problem) else f"{status_code}: {self._reason}"
        if isinstance(exc, Problem) and "Retry-After" in exc.extra:
            self.set_header("Retry-After", str(exc.extra["Retry-After"]))
        if "text/html" not in self.request.headers.get("Accept", ""):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": message}))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{status_code}</title></head><body style='font-family:system-ui,sans-serif;"
            f"max-width:40em;margin:3em auto;padding:0 1em'><h1>{status_code}</h1>"
            f"<p>{html.escape(message)}</p></body></html>"
        )

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        path = notebook_path(path)
        pool = _served_pool(self.extension, path)
        if pool is None:
            raise Problem(404, not_served_message(path))
        if pool.primed is None:
            # The first prime is still running: wait for a ready kernel as a call would.
            try:
                (await pool.lease(self.extension.config.timeout)).release()
            except Unavailable as err:
                raise Problem(503, f"{path} is not ready: {err.message}", **{"Retry-After": err.retry_after}) from None
        notebook = pool.primed
        assert notebook is not None
        cached = _pages.get(pool)
        if cached is not None and cached[0] is notebook:
            _, page, views = cached
        else:
            page, views = render_page(notebook, title=posixpath.basename(path), config=self._config(path))
            _pages[pool] = (notebook, page, views)
        # The views as they are now, rendered in a pool kernel (the saved HTML is the prime's).
        options = self.extension.config
        fresh = await render_views(
            pool,
            self.extension.bridges,
            {model_id: render_id for model_id, (render_id, _) in views.items()},
            timeout=options.timeout,
            log=self.log,
        )
        for model_id, (_, saved) in views.items():
            html_now = fresh.get(model_id)
            shown = prerendered(saved if html_now is None else html_now, fresh=html_now is not None)
            page = page.replace(view_marker(model_id), shown, 1)
        self.xsrf_token  # noqa: B018 (sets the _xsrf cookie the page's calls send back)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)

    def _config(self, path: str) -> dict[str, Any]:
        base = self.base_url
        return {
            "path": path,
            "invoke_url": url_path_join(base, API_ROOT, "notebooks", url_escape(path), "inline") + "/",
            "static_url": url_path_join(base, STATIC_ROOT) + "/",
        }


class _ById(Invocation):
    """An invocation of the action with this id (an exported action's route names it)."""

    def message(self, name: str) -> dict[str, Any]:
        message = super().message(name)
        message["action"] = message.pop("name")
        return message


class InlineInvokeHandler(InvokeHandler):
    """``POST .../notebooks/{path}/inline/{action_id}``: the page's calls, for served pools only."""

    async def kernel_id(self, kernel_id: str | None = None, path: str | None = None) -> str:
        if path is None or _served_pool(self.extension, path) is None:
            raise Problem(404, not_served_message((path or "").strip("/")))
        return await super().kernel_id(kernel_id, path)

    async def exported_actions(self, kernel_id: str) -> list[dict[str, Any]]:
        # Asked before an upload is read, to refuse a name that is not there: an id has no
        # list to be checked against (an unknown id is answered after the body, as 404).
        return [{"name": self.path_kwargs["name"]}]

    def _not_found(self, name: str, kernel_id: str) -> str:
        return "this action is not available in the served notebook's kernels: reload the page"

    async def _invoke(self, name: str, invocation: Invocation) -> None:
        await super()._invoke(name, _ById(**vars(invocation)))


class LoaderHandler(web.StaticFileHandler):
    """The page's loader modules (public: the same for everyone, nothing secret in them)."""

    @allow_unauthenticated
    def get(self, path: str, include_body: bool = True) -> Any:
        return super().get(path, include_body)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if posixpath.basename(absolute_path) not in LOADER_FILES:
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


def app_handlers(base_url: str) -> list[tuple[str, Any, dict[str, Any]] | tuple[str, Any]]:
    """The app pages' routes, for ``load`` to add beside the others."""
    return [
        (url_path_join(base_url, API_ROOT, r"notebooks/(?P<path>.+)/inline/(?P<name>[^/]+)"), InlineInvokeHandler),
        (url_path_join(base_url, STATIC_ROOT, "(.*)"), LoaderHandler, {"path": str(WIDGETS)}),
        (url_path_join(base_url, APPS_ROOT, "(?P<path>.+)"), AppPageHandler),
    ]


def default_url(notebooks: list[str]) -> str | None:
    """Where ``GET /`` of ``serve`` goes: the app page, when it serves one notebook."""
    paths = list(dict.fromkeys(map(notebook_path, notebooks)))
    return app_url(paths[0]) if len(paths) == 1 else None
