"""``GET /notebook-actions/api/status``: every served notebook and the state of its kernels."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from .._routes import STATUS_PATH, app_route
from ._handlers import BaseHandler


class StatusHandler(BaseHandler):
    drains = False  # a draining server still says how it is

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Every served notebook, with each kernel's state, requests in flight and last prime."""
        notebooks = self.service.serving.status()
        for notebook in notebooks:  # one click from JupyterLab to the notebook's app page
            notebook["app_url"] = url_path_join(self.base_url, app_route(notebook["path"]))
        self.finish(json.dumps({"notebooks": notebooks}))


def status_handlers(base_url: str) -> list[tuple[str, type[BaseHandler]]]:
    return [(url_path_join(base_url, STATUS_PATH), StatusHandler)]
