"""What a served pool sends a gateway when it starts a kernel: nothing but its configuration.

jupyter-server sends a gateway the ``KERNEL_*`` variables of the server's own environment,
and ``KERNEL_WORKING_DIR`` made from the path it is given; Enterprise Gateway 3.3's
DistributedProcessProxy writes each into the SSH command line that starts the kernel on its
host (``export KEY="value";``, where the shell expands ``$(...)`` and ``$NAME``). Requests
never start kernels (a pool starts them from ``c.NotebookActions.serve``), so nothing of a
request (arguments, headers, paths) can get there; and a gateway kernel starts without a
path, so not even a served notebook's folder name goes into a shell: priming changes into
the folder itself (``_priming``), which Enterprise Gateway needs anyway (it ignores
``KERNEL_WORKING_DIR``).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.gateway.managers import GatewayMappingKernelManager


def start_options(kernel_manager: Any, folder: str) -> dict[str, Any]:
    """``start_kernel``'s options besides the kernel name, for a kernel of a notebook in ``folder``."""
    if isinstance(kernel_manager, GatewayMappingKernelManager):
        return {}
    return {"path": folder}
