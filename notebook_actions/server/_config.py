"""``c.NotebookActions.<option>``: the server extension's options."""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Float, Integer, List, TraitError, Unicode, Union, validate
from traitlets.config import LoggingConfigurable

from .._routes import notebook_path
from ._limits import PUBLIC_RATE_LIMIT, parse_rate

MiB = 1 << 20


class AllOrPaths(Union):
    """True, False or a list of notebook paths; on the command line ``true``, ``false`` or
    the paths separated by commas (traitlets' Union would take only the booleans there)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__([Bool(), List(Unicode())], **kwargs)

    def from_string(self, s: str) -> bool | list[str]:
        word = s.strip().lower()
        if word in {"true", "1", "yes"}:
            return True
        if word in {"false", "0", "no", ""}:
            return False
        return [path.strip() for path in s.split(",") if path.strip()]


class NotebookActions(LoggingConfigurable):
    """Options of the notebook-actions server extension (HTTP endpoints for the
    exported actions of running kernels)."""

    max_body_bytes = Integer(
        MiB,
        config=True,
        help="""Largest JSON or urlencoded request body, in bytes, and largest total of the
        non-file fields of a multipart body. Larger bodies get 413 before they are read.""",
    )

    max_upload_bytes = Integer(
        100 * MiB,
        config=True,
        help="""Largest multipart/form-data request body (files included), in bytes. Larger
        bodies get 413 before they are read.""",
    )

    upload_chunk_bytes = Integer(
        4 * MiB,
        config=True,
        help="""Files travel to the kernel in chunks of this many bytes (at most two
        chunks unacknowledged), so an upload costs the kernel little more than a chunk of
        memory; smaller files travel with the invocation itself.""",
    )

    timeout = Float(
        30.0,
        config=True,
        help="""Seconds an invocation may take. Past it the request gets 504 and the action
        is cancelled in the kernel, or 503 if the kernel has not even started it (a cell is
        running). For a streamed response (text/event-stream) it is the longest wait
        between two events.""",
    )

    expose_exception_messages = Bool(
        False,
        config=True,
        help="""Whether a 500 response carries the message of the exception the action
        raised. Off by default: callers get the exception type and a digest, and the
        notebook's owner finds the full traceback under that digest in the kernel's log.""",
    )

    tcp_nodelay = Bool(
        True,
        config=True,
        help="""Set TCP_NODELAY on kernel websocket connections, and on the server's own
        websockets to a kernel gateway (``--gateway-url``) TCP_NODELAY and TCP_QUICKACK (Linux),
        so that their ACKs go at once. Without it the kernel's status and reply frames meet
        Nagle's algorithm and delayed ACKs, and a widget round trip, or an action call
        through Enterprise Gateway, takes about 40 ms longer.""",
    )

    serve = List(
        Unicode(),
        config=True,
        help="""Notebooks to serve, as paths relative to the server's root directory. Each gets
        a pool of kernels that the server starts, primes by running the notebook, restarts
        and primes again when they die; its notebook-path routes answer from that pool.""",
    )

    kernels_per_notebook = Integer(
        1,
        config=True,
        help="""Kernels in the pool of each served notebook. Kernels do not share memory:
        state that every request must see belongs in a database or a file.""",
    )

    prime_timeout = Float(
        600.0,
        config=True,
        help="""Seconds one cell of a served notebook may run while its kernel is primed. Past
        it the prime fails, naming the cell, and is tried again in a restarted kernel.""",
    )

    reload = Bool(
        False,
        config=True,
        help="""When a served notebook's file changes, prime its kernels again, one at a
        time, so that a pool of two or more keeps answering. (A pool whose priming failed is
        primed again on a change whether or not this is set.)""",
    )

    serve_jupyter_api = Bool(
        False,
        config=True,
        help="""On a `jupyter notebook-actions serve` server, whether the token also reaches
        Jupyter's own APIs: kernels, contents, sessions, terminals, kernelspecs and the rest.
        Off by default: they answer 403, and the token reaches only notebook-actions' routes
        (with Jupyter's APIs, whoever has the token can start a kernel and run any code). A
        Jupyter server of another kind (`jupyter lab`, `jupyter server`) keeps its APIs and its
        own authorizer whatever this says.""",
    )

    drain_timeout = Float(
        30.0,
        config=True,
        help="""Seconds `jupyter notebook-actions serve` waits at most, after SIGTERM, for the
        requests in flight to finish (and for a second without new requests: a load balancer
        has stopped sending them) before it shuts its pools down and exits. Meanwhile the
        readiness route (notebook-actions/health) answers 503 and new requests get 503 with
        Retry-After. A second SIGTERM stops at once.""",
    )

    rate_limit = Unicode(
        "",
        config=True,
        help=f"""At most this many calls per caller, as '30/minute' (per second, minute, hour
        or day), counted per identity (per client address for callers with none): past it a
        call gets 429 with Retry-After and a message saying when to try again (over MCP, a
        tool error with that message). Empty (the default): no limit, but anonymous visitors of
        public notebooks get {PUBLIC_RATE_LIMIT}.""",
    )

    max_waiting = Integer(
        None,
        allow_none=True,
        config=True,
        help="""At most this many requests wait for a ready kernel of a served notebook
        (while its kernels start, prime or restart); beyond that a request gets 429 at once,
        with Retry-After, instead of waiting up to the timeout. None (the default): no limit.""",
    )

    # --- public apps (anonymous visitors) ----------------------------------------------

    public = AllOrPaths(
        default_value=False,
        config=True,
        help=f"""Served notebooks that anonymous visitors may use without the token: True for
        every served notebook, or a list of their paths (`serve NOTEBOOK --public` says True;
        on the command line, --NotebookActions.public=a.ipynb,b.ipynb).
        A visitor reaches a public notebook's app page and its actions' routes (call, listing,
        OpenAPI; MCP only with public_mcp), and nothing else: Jupyter's APIs, the status
        route, other notebooks and kernels keep requiring the token. Each visitor is named by a
        signed cookie (current_user().anonymous is True). Unless rate_limit is set, visitors'
        calls are limited to {PUBLIC_RATE_LIMIT} per client address (a new cookie costs
        nothing, an address does). Only on a `jupyter notebook-actions serve` server.""",
    )

    public_mcp = Bool(
        False,
        config=True,
        help="""Whether anonymous visitors also reach the MCP endpoints of public notebooks
        (NotebookActions.public). Off by default: MCP needs the token.""",
    )

    # JupyterHub service (http/_hub.py)
    jupyterhub = Bool(
        None,
        allow_none=True,
        config=True,
        help="""Whether `jupyter notebook-actions serve` runs as a JupyterHub service: visitors
        sign in with the hub's OAuth, only users with the service's access scope
        (access:services!service={name}) get in, and base_url, ip and port follow the hub's
        JUPYTERHUB_SERVICE_PREFIX and JUPYTERHUB_SERVICE_URL. None (the default): when the
        environment names a service (JUPYTERHUB_SERVICE_NAME and JUPYTERHUB_API_TOKEN, which
        the hub sets for a service it runs). True (--jupyterhub): a missing variable is an
        error. False: never.""",
    )

    @validate("rate_limit")
    def _rate(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value:
            try:
                parse_rate(value)
            except ValueError as err:
                raise TraitError(f"NotebookActions.rate_limit: {err}") from None
        return value

    @validate("public")
    def _public(self, proposal: dict[str, Any]) -> bool | list[str]:
        value = proposal["value"]
        if isinstance(value, bool):
            return value
        return [notebook_path(str(path)) for path in value]

    @validate("max_waiting")
    def _max_waiting(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        if value is not None and int(value) < 0:
            raise TraitError(f"NotebookActions.max_waiting must be 0 or more, not {value}")
        return None if value is None else int(value)

    @validate("max_body_bytes", "max_upload_bytes", "upload_chunk_bytes", "kernels_per_notebook")
    def _positive_int(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 1:
            message = f"NotebookActions.{proposal['trait'].name} must be at least 1, not {value}"
            raise TraitError(message)
        return value

    @validate("timeout", "prime_timeout", "drain_timeout")
    def _positive_float(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if value <= 0:
            message = f"NotebookActions.{proposal['trait'].name} must be more than 0 seconds, not {value}"
            raise TraitError(message)
        return value
