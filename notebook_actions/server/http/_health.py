"""``GET {base_url}notebook-actions/health``: readiness, for load balancers and orchestrators.

200 ``ready`` when every served notebook has a ready kernel (a server that serves none is
ready once it runs), 503 ``unavailable`` otherwise and while the server drains (see
``_drain``). No authentication: a health check carries no token. So the body says nothing
else either: no notebook names, no kernel counts, no reasons (the authenticated status
route has those).
"""

from __future__ import annotations

from typing import Any, cast

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from typing_extensions import override

from ..serving._pools import Serving
from ._drain import Drain

ROUTE = "/notebook-actions/health"


def ready(drain: Drain, serving: Serving) -> bool:
    """Whether the server takes requests, and every served notebook has a ready kernel."""
    if drain.draining:
        return False
    return all(any(kernel.ready for kernel in pool.kernels) for pool in serving.pools.values())


class HealthHandler(JupyterHandler):
    def check_xsrf_cookie(self) -> None:
        """A GET changes nothing; HEAD neither."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    @override
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Whatever went wrong, the same two words: nothing about the server leaks from here.
        self.finish("unavailable\n")

    def _answer(self, head: bool) -> None:
        drain = cast("Drain", self.settings["notebook_actions_drain"])
        ok = ready(drain, self.settings["notebook_actions"].serving)
        self.set_status(200 if ok else 503)
        self.finish(b"" if head else ("ready\n" if ok else "unavailable\n"))

    @allow_unauthenticated
    def get(self) -> None:
        self._answer(head=False)

    @allow_unauthenticated
    def head(self) -> None:
        self._answer(head=True)


def health_handlers(base_url: str) -> list[tuple[str, type[JupyterHandler]]]:
    return [(url_path_join(base_url, ROUTE), HealthHandler)]
