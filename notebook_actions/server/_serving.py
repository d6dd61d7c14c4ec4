"""The served notebooks of this server: a pool each, told about their kernels' fates."""

from __future__ import annotations

from typing import Any

from .._routes import notebook_path
from ._errors import KernelDied, ServiceError
from ._pool import Pool, Services


class Serving:
    """Every pool of this server, by notebook path."""

    def __init__(self, services: Services, paths: list[str], size: int, *, headless: bool = False) -> None:
        self.services = services
        #: serve's own server: no UI, so a notebook is served or not at all
        self.headless = headless
        self.pools = {path: Pool(path, size, services) for path in dict.fromkeys(map(notebook_path, paths))}

    def pool(self, path: str) -> Pool | None:
        return self.pools.get(notebook_path(path)) if self.pools else None

    def start(self) -> None:
        if not self.pools:
            return
        self.services.bridges.on_close.append(self._bridge_closed)
        for path, pool in self.pools.items():
            self.services.log.info("notebook_actions | serving %s with %d kernel(s)", path, pool.size)
            pool.start()

    async def stop(self) -> None:
        for pool in self.pools.values():
            await pool.stop()

    def status(self) -> list[dict[str, Any]]:
        return [pool.status() for pool in self.pools.values()]

    def _find(self, kernel_id: str) -> tuple[Pool, Any] | None:
        for pool in self.pools.values():
            kernel = pool.owns(kernel_id)
            if kernel is not None:
                return pool, kernel
        return None

    def _bridge_closed(self, kernel_id: str, error: ServiceError) -> None:
        # A lost connection to a remote kernel is how a gateway's restart shows here.
        found = self._find(kernel_id)
        if found is not None:
            lost = f"the connection to the kernel was lost ({error.message})"
            found[0].kernel_event(found[1], error.message if isinstance(error, KernelDied) else lost)

    async def on_kernel_action(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        """jupyter-server's kernel_actions events: a pool's kernel restarted or shut down by someone."""
        kernel_id = data.get("kernel_id")
        action = data.get("action")
        if action in ("restart", "shutdown") and isinstance(kernel_id, str):
            found = self._find(kernel_id)
            if found is not None:
                done = "restarted" if action == "restart" else "shut down"
                found[0].kernel_event(found[1], f"the kernel was {done} through Jupyter's API")
