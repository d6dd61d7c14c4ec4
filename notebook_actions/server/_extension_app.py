"""The server extension as a jupyter-server ``ExtensionApp``, and ``jupyter notebook-actions serve``.

Every jupyter server with the extension enabled loads ``NotebookActionsApp`` (as
JupyterLab's server loads ``LabApp``). Launched by ``jupyter notebook-actions serve
NOTEBOOK ...`` it is the starter app of a server of its own: no other extension, no UI,
the notebooks on the command line served (as ``voila NOTEBOOK`` serves one).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jupyter_core.application import JupyterApp
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from jupyter_server.serverapp import aliases as server_aliases
from jupyter_server.serverapp import flags as server_flags
from traitlets import Bool, Dict, default

from .._routes import STATUS_PATH
from ._config import NotebookActions
from ._service import ActionService
from ._setup import load
from .apps._page import default_url
from .apps._served_file import remove_served_file, write_served_file
from .http._authorizer import ServeAuthorizer
from .http._drain import Drain
from .http._hub import HubServiceServer
from .http._visitors import ServeIdentityProvider

USAGE = """\
usage: jupyter notebook-actions serve NOTEBOOK [NOTEBOOK ...] [--kernels=N] [--reload] [--public]
                                      [--jupyter-api] [--jupyterhub] [server options]

Serve the exported actions of each NOTEBOOK (a path relative to the server's root directory)
over HTTP, from a pool of N kernels primed by running the notebook. The token reaches only
notebook-actions' routes; --public lets anonymous visitors use the notebooks' app pages and
actions without it; --jupyter-api turns Jupyter's own APIs (kernels, contents, ...) on.
Every jupyter-server option works: --port, --ip, --IdentityProvider.token, --ServerApp.root_dir,
--gateway-url, ... `jupyter notebook-actions serve --help-all` lists them.
"""


#: ``serve``'s own options, besides every jupyter-server option.
SERVE_ALIASES = {"kernels": "NotebookActions.kernels_per_notebook"}
SERVE_FLAGS = {
    "reload": (
        {"NotebookActions": {"reload": True}},
        "Prime a served notebook's kernels again, one at a time, when its file changes.",
    ),
    "public": (
        {"NotebookActions": {"public": True}},
        (
            "Let anonymous visitors, without the token, use the served notebooks' app pages and "
            "actions (nothing else; MCP too with --NotebookActions.public_mcp=True); each visitor "
            "is named by a signed cookie."
        ),
    ),
    "jupyter-api": (
        {"NotebookActions": {"serve_jupyter_api": True}},
        (
            "Let the token reach Jupyter's own APIs too (kernels, contents, sessions, terminals, "
            "kernelspecs): whoever has it can then run any code on this machine."
        ),
    ),
    "jupyterhub": (
        {"NotebookActions": {"jupyterhub": True}},
        "Run as a JupyterHub service: visitors sign in with the hub (on by itself when the hub starts serve).",
    ),
}


class ServeServerApp(HubServiceServer):
    """The server of ``jupyter notebook-actions serve``: its positional arguments are the
    notebooks to serve, relative to the root directory (a plain server would open the first
    one, relative to the current directory); its token reaches only notebook-actions' routes
    (see ``ServeAuthorizer``), and public notebooks' visitors only theirs (``ServeIdentityProvider``);
    it runs as root too (``allow_root`` is on by default); as a JupyterHub service it signs
    visitors in with the hub (``HubServiceServer``)."""

    aliases = Dict({**server_aliases, **SERVE_ALIASES})
    flags = Dict({**server_flags, **SERVE_FLAGS})

    @default("allow_root")
    def _allow_root(self) -> bool:
        # A service, commonly run in a container as root; Jupyter's refusal guards a browser UI,
        # which this server has none of. --ServerApp.allow_root=False still refuses.
        return True

    @default("authorizer_class")
    def _serve_authorizer(self) -> type[ServeAuthorizer]:
        return ServeAuthorizer

    @default("identity_provider_class")
    def _serve_identity_provider(self) -> type[ServeIdentityProvider]:
        # jupyter-server's, and public notebooks' visitors (see _visitors)
        return ServeIdentityProvider

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        JupyterApp.parse_command_line(self, argv)  # not ServerApp's: see the class docstring

    def init_webapp(self) -> None:
        # `/` goes to the app page when one notebook is served (unless configured otherwise:
        # the starter extension's own default is the status route).
        page = default_url([*self.extra_args, *NotebookActions(parent=self).serve])
        if page is not None and self.default_url.rstrip("/").endswith(NotebookActionsApp.extension_url):
            self.default_url = page
        super().init_webapp()

    def _signal_stop(self, sig: Any, frame: Any) -> None:
        # SIGTERM drains first (see _drain): no new requests, those in flight finish.
        settings = self.web_app.settings if getattr(self, "web_app", None) else {}
        drain, service = settings.get("notebook_actions_drain"), settings.get("notebook_actions")
        if not isinstance(drain, Drain) or not isinstance(service, ActionService) or drain.draining:
            super()._signal_stop(sig, frame)  # a second signal: stop at once
            return
        drain.draining = True  # the readiness route says so at once
        self.log.critical("received signal %s: draining, then stopping", sig)
        self.io_loop.add_callback_from_signal(self._drain_then_stop, drain, service.config.drain_timeout)

    async def _drain_then_stop(self, drain: Drain, timeout: float) -> None:
        left = await drain.drain(timeout)
        if left:
            self.log.warning("notebook_actions | %d request(s) still in flight after %g s: stopping", left, timeout)
        self.stop()


class NotebookActionsApp(ExtensionApp):
    """HTTP endpoints for the exported actions of running kernels and served notebooks."""

    name = "notebook-actions"
    description = "Serve notebooks' exported actions over HTTP from primed pools of kernels."
    extension_url = STATUS_PATH
    load_other_extensions = False  # when it is the server (serve): headless, nothing else
    serverapp_class = ServeServerApp
    # For --help (the server parses them): class dicts, as initialize_server reads them.
    aliases = {**ExtensionApp.aliases, **SERVE_ALIASES}  # noqa: RUF012
    flags = {**ExtensionApp.flags, **SERVE_FLAGS}  # noqa: RUF012
    classes = [ServerApp, NotebookActions]  # noqa: RUF012

    open_browser = Bool(False, config=True, help="Whether `serve` opens a browser (at the status route).")

    service: ActionService | None = None
    served_file: Path | None = None

    def initialize_settings(self) -> None:
        if self.serverapp is None:  # ExtensionApp links its server app before this hook
            message = "the extension's settings need its server app"
            raise RuntimeError(message)
        # Positional arguments are notebooks only on serve's own server; on another (say
        # `jupyter lab nb.ipynb`) they mean something else.
        serving = isinstance(self.serverapp, ServeServerApp)
        notebooks = list(self.extra_args) if serving else []
        self.service = load(self.serverapp, notebooks, headless=serving)
        # load() changed the web app's settings (TCP_NODELAY's kernel websocket class);
        # ExtensionApp then writes back self.settings, copied before it ran: keep the change.
        self.settings.update(self.serverapp.web_app.settings)
        if serving and not self.service.serving.pools:
            sys.stderr.write(USAGE + "\nerror: name at least one notebook to serve\n")
            raise SystemExit(2)
        # So that %%use_server in JupyterLab shows a served notebook's app URL.
        self.served_file = write_served_file(self.serverapp.runtime_dir, list(self.service.serving.pools))

    async def stop_extension(self) -> None:
        # Before the server shuts its kernels down: pools must not bring them back.
        if self.service is not None:
            await self.service.serving.stop()
        remove_served_file(self.served_file)


def main(argv: list[str] | None = None) -> None:
    """``jupyter notebook-actions serve NOTEBOOK ...``"""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "serve":
        sys.stderr.write(USAGE)
        raise SystemExit(0 if args and args[0] in ("-h", "--help", "help") else 2)
    NotebookActionsApp.launch_instance(args[1:])  # type: ignore[no-untyped-call]
