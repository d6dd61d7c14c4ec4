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
cookie and the XSRF token. A public notebook's page (``NotebookActions.public``) is open to
anonymous visitors too (``http._visitors``); its calls then carry the visitor's cookie.
Every call, and every view rendered for the page, is made as the page's caller
(``current_user()``).
"""

from __future__ import annotations

import dataclasses
import html
import json
import posixpath
import weakref
from http import HTTPStatus
from typing import Any, cast

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from nbformat import NotebookNode
from tornado import web
from typing_extensions import override

from ..._routes import API_ROOT, APPS_ROOT, STATIC_ROOT, app_route, inline_path, notebook_path
from ...widgets._esm import HERE as WIDGETS
from .._errors import ServiceError
from .._replies import Failed
from .._service import ActionService, Invoke, Target
from ..http._body import IGNORED_FIELDS
from ..http._handlers import AUTH_RESOURCE, InvokeHandler
from ..http._identity import caller_of, limit_key
from ..http._problem import Problem
from ..http._replies import problem_for
from ..http._visitors import route_notebook
from ..serving._pool import Pool
from ._calls import Outcome, call_action, render_views
from ._forms import FLASH_COOKIE, FLASH_TEXT, result_text, static_form, view_forms
from ._render import app_widgets, page_views, prerendered, render_page, widget_marker

#: ``{app page}/_post/{model_id}/{key}``: where a form posts without JavaScript.
POST_SEGMENT = "_post"
#: The files of the page's loader, served from the widgets' folder.
LOADER_FILES = ("app.js", "http.js")


def app_url(path: str) -> str:
    """The path of a served notebook's app page, under the base URL."""
    return app_route(path)


def not_served_message(path: str) -> str:
    return (
        f"{path} is not served by this server: serve it with `jupyter notebook-actions serve {path}` "
        "(or add it to c.NotebookActions.serve), then open its app page"
    )


def _served_pool(service: ActionService, path: str) -> Pool | None:
    return service.serving.pool(path)


#: Each pool's page and its live widgets' models, with the primed notebook they were made
#: from (made again after a new prime).
_pages: weakref.WeakKeyDictionary[Pool, tuple[NotebookNode, str, dict[str, Any]]] = weakref.WeakKeyDictionary()


class AppPageHandler(JupyterHandler):
    """The app page of a served notebook."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> ActionService:
        return cast("ActionService", self.settings["notebook_actions"])

    def visitor_notebook(self) -> str | None:
        """A public notebook's page is open to anonymous visitors (``_visitors``)."""
        return route_notebook(self)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        message = exc.message if isinstance(exc, Problem) else f"{status_code}: {self._reason}"
        if isinstance(exc, Problem):
            for name, value in exc.headers.items():
                self.set_header(name, value)
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
        pool = _served_pool(self.service, path)
        if pool is None:
            raise Problem(HTTPStatus.NOT_FOUND, not_served_message(path))
        if pool.primed is None:
            # The first prime is still running: wait for a ready kernel as a call would.
            try:
                await pool.choose(self.service.config.timeout)
            except ServiceError as err:
                problem = problem_for(err)
                raise Problem(problem.status, f"{path} is not ready: {err.message}", problem.headers) from None
        notebook = pool.primed
        if notebook is None:  # choose() returned a kernel, so a prime has finished
            raise Problem(HTTPStatus.SERVICE_UNAVAILABLE, f"{path} is not ready: reload the page")
        cached = _pages.get(pool)
        if cached is not None and cached[0] is notebook:
            _, page, models = cached
        else:
            page, models = render_page(notebook, title=posixpath.basename(path), config=self._config(path))
            _pages[pool] = (notebook, page, models)
        # The views as they are now, rendered in a pool kernel (the saved HTML is the prime's).
        views = page_views(models)
        render_ids = {model_id: render_id for model_id, (render_id, _) in views.items()}
        # rendered for this visitor: a view of per-user state shows the visitor's own
        caller = caller_of(self, "app")
        fresh = await render_views(self.service, path, render_ids, caller=caller, log=self.log)
        flash = self._take_flash(path)
        xsrf = self.xsrf_token.decode()  # (also sets the _xsrf cookie the page's calls send back)
        posts = url_path_join(self.base_url, app_url(path), POST_SEGMENT)
        for model_id, model in models.items():
            own = flash if flash is not None and flash.get("widget") == model_id else None
            post_url = f"{posts}/{model_id}/"
            if model_id in views:
                saved, now = views[model_id][1], fresh.get(model_id)
                shown = view_forms(saved if now is None else now, post_url, xsrf, own)
                filled = prerendered(shown, view_html=saved if now is None else now, fresh=now is not None)
            else:
                filled = prerendered(static_form(model["state"], post_url, xsrf, own))
            page = page.replace(widget_marker(model_id), filled, 1)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)

    def _flash_path(self, path: str) -> str:
        return url_path_join(self.base_url, app_url(path))

    def _take_flash(self, path: str) -> dict[str, Any] | None:
        """The outcome of this visitor's last no-JavaScript post, once."""
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if raw is None:
            return None
        self.clear_cookie(FLASH_COOKIE, path=self._flash_path(path))
        try:
            flash = json.loads(raw)
        except ValueError:
            return None
        return flash if isinstance(flash, dict) and flash.get("path") == path else None

    def _config(self, path: str) -> dict[str, Any]:
        base = self.base_url
        return {
            "path": path,
            "invoke_url": url_path_join(base, inline_path(path)) + "/",
            "static_url": url_path_join(base, STATIC_ROOT) + "/",
        }


class AppPostHandler(AppPageHandler):
    """A form of the page posted without JavaScript: call its action, then 303 to the page."""

    @web.authenticated
    @authorized
    async def post(self, path: str, model_id: str, key: str) -> None:
        path = notebook_path(path)
        pool = _served_pool(self.service, path)
        if pool is None:
            raise Problem(HTTPStatus.NOT_FOUND, not_served_message(path))
        models = app_widgets(pool.primed)["models"] if pool.primed is not None else {}
        state = (models.get(model_id) or {}).get("state") or {}
        ref = state.get("action") if key == "" else (state.get("actions") or {}).get(key)
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise Problem(HTTPStatus.NOT_FOUND, "this form's action is not on the page: reload the page")
        args: dict[str, Any] = {}
        for name, values in self.request.body_arguments.items():
            if name not in IGNORED_FIELDS:
                decoded = [value.decode("utf-8", "replace") for value in values]
                args[name] = decoded[0] if len(decoded) == 1 else decoded
        files: dict[str, list[Any]] = {}
        buffers: list[bytes] = []
        for name, uploads in self.request.files.items():
            for upload in uploads:
                if upload.filename or upload.body:  # (an empty file input sends an empty part)
                    file_ref = {"name": upload.filename, "content_type": upload.content_type, "buffer": len(buffers)}
                    files.setdefault(name, []).append(file_ref)
                    buffers.append(upload.body)
        caller = caller_of(self, "app")
        invoke = Invoke(ref["id"], args, "form", files, buffers, by_id=True, caller=caller)
        try:
            self.service.admit(limit_key(self, caller), anonymous=caller["anonymous"])
        except ServiceError as err:  # (RateLimited: the page says when to try again)
            outcome = Outcome(error=err)
        else:
            outcome = await call_action(self.service, path, invoke)
        secret = {f.get("name") for f in state.get("fields") or [] if f.get("control") == "password"}
        flash: dict[str, Any] = {
            "path": path,
            "widget": model_id,
            "kind": outcome.kind,
            "values": {k: v[:1000] for k, v in args.items() if isinstance(v, str) and k not in secret},
        }
        if outcome.kind == "result":
            flash["text"] = result_text(outcome.value)[:FLASH_TEXT]
        elif outcome.kind == "invalid":
            flash["errors"] = [{"field": e["field"], "message": e["message"][:300]} for e in outcome.errors][:20]
        elif outcome.error is not None:
            flash["text"] = outcome.error.message
        elif isinstance(outcome.reply, Failed):
            flash["text"] = outcome.reply.public(self.service.config.expose_exception_messages)[0]
        else:
            flash["text"] = "this action is not available any more: reload the page"
        self.set_signed_cookie(FLASH_COOKIE, json.dumps(flash), path=self._flash_path(path), httponly=True)
        self.redirect(self._flash_path(path), status=303)


class InlineInvokeHandler(InvokeHandler):
    """``POST .../notebooks/{path}/inline/{action_id}``: the page's calls, for served pools only."""

    via = "app"
    waiting_events = True  # the widgets say that a call waits for a busy kernel, as in JupyterLab

    async def _resolve(self) -> Target:
        path = self.path_kwargs.get("path")
        if path is None or _served_pool(self.service, path) is None:
            raise Problem(HTTPStatus.NOT_FOUND, not_served_message((path or "").strip("/")))
        return await super()._resolve()

    @override
    async def _exports(self, target: Target, name: str) -> bool:
        # Asked before an upload is read, to refuse a name that is not there: an id has no
        # list to be checked against (an unknown id is answered after the body, as 404).
        return True

    @override
    def _not_found(self, name: str, kernel_id: str) -> str:
        return "this action is not available in the served notebook's kernels: reload the page"

    async def _invoke(self, invoke: Invoke) -> None:
        await super()._invoke(dataclasses.replace(invoke, by_id=True))  # the route names an id


class LoaderHandler(web.StaticFileHandler):
    """The page's loader modules (public: the same for everyone, nothing secret in them)."""

    @allow_unauthenticated
    def get(self, path: str, include_body: bool = True) -> Any:
        return super().get(path, include_body)

    @allow_unauthenticated  # jupyter-server refuses to load a handler with an undecorated method
    def head(self, path: str) -> Any:  # when allow_unauthenticated_access is off
        return super().head(path)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if posixpath.basename(absolute_path) not in LOADER_FILES:
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


def app_handlers(base_url: str) -> list[tuple[str, Any, dict[str, Any]] | tuple[str, Any]]:
    """The app pages' routes, for ``load`` to add beside the others."""
    return [
        (url_path_join(base_url, API_ROOT, r"notebooks/(?P<path>.+)/inline/(?P<name>[^/]+)"), InlineInvokeHandler),
        (url_path_join(base_url, STATIC_ROOT, "(.*)"), LoaderHandler, {"path": str(WIDGETS)}),
        (
            url_path_join(base_url, APPS_ROOT, rf"(?P<path>.+)/{POST_SEGMENT}/(?P<model_id>\w+)/(?P<key>[^/]*)"),
            AppPostHandler,
        ),
        (url_path_join(base_url, APPS_ROOT, "(?P<path>.+)"), AppPageHandler),
    ]


def default_url(notebooks: list[str]) -> str | None:
    """Where ``GET /`` of ``serve`` goes: the app page, when it serves one notebook."""
    paths = list(dict.fromkeys(map(notebook_path, notebooks)))
    return app_url(paths[0]) if len(paths) == 1 else None
