"""Every code block in the README runs, so the docs cannot drift from the code.

- ```python blocks run in order as the cells of one notebook, in a real kernel;
- ```bash blocks that call `make` are checked with `make -n` (the targets exist and
  their recipes parse; running them here would recurse into this suite);
- ```bash blocks that call `curl` run against a real Jupyter server with the extension, whose
  kernel has run the README's python blocks, with JUPYTER_URL, JUPYTER_TOKEN and KERNEL_ID set;
  those of "Serve a notebook" (and its `jupyter notebook-actions serve`) run in
  tests/server/test_serve_cli.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from nbclient import NotebookClient

from tests.e2e._servers import start

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str, text: str = README) -> list[str]:
    return [body for lang, body in BLOCK.findall(text) if lang == language]


def section(title: str) -> str:
    """The README's ``## title`` section."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def python_notebook() -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in blocks("python")]
    return nb


def test_python_blocks_run_in_a_kernel(tmp_path: Path) -> None:
    nb = python_notebook()
    assert len(nb.cells) >= 4
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    registered = "".join(o.get("text", "") + str(o.get("data", "")) for o in nb.cells[1].get("outputs", []))
    assert "add_todo" in registered


def test_make_commands_exist() -> None:
    targets = [m for body in blocks("bash") for m in re.findall(r"^make (\w+)", body, re.MULTILINE)]
    assert {"lab", "test"} <= set(targets)
    for target in targets:
        # -n: print the recipe without running it; fails on an unknown target.
        done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_the_tests_run_from_make_tests_venv() -> None:
    # `make lab` alone installs no pytest: the README says to run `make test` first.
    (block,) = [body for body in blocks("bash", section("Development")) if "pytest" in body]
    setup, command = block.strip().splitlines()
    assert setup == "make test"
    args = shlex.split(command)
    assert args[0] == ".venv/bin/python"
    done = subprocess.run([*args, "--collect-only", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def curl_blocks(text: str = README) -> list[str]:
    return [body for body in blocks("bash", text) if body.lstrip().startswith("curl")]


def run_curl(block: str, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-c", block], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{block}\n{done.stderr}"
    return done.stdout


def test_curl_blocks_are_plain_curl() -> None:
    for block in curl_blocks():
        for command in block.split("\n\n"):
            assert shlex.split(command.replace("\\\n", " "))[0] == "curl"


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `jupyter server` with the extension, and a notebook session whose kernel ran
    the README's python blocks."""
    server = start("server", tmp_path_factory.mktemp("readme-server"), [])
    try:
        session = server.api(
            "POST", "api/sessions", {"path": "readme.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
        )
        kernel_id = session["kernel"]["id"]
        client = BlockingKernelClient()
        runtime = Path(server.log).parent / "runtime"
        client.load_connection_file(str(runtime / f"kernel-{kernel_id}.json"))
        # No heartbeat channel: under load a missed beat reads as "kernel died".
        client.start_channels(hb=False)
        results: list[str] = []  # what the blocks' last expressions showed

        def keep(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "execute_result":
                results.append(msg["content"]["data"].get("text/plain", ""))

        try:
            client.wait_for_ready(timeout=60)
            for code in blocks("python"):
                reply = client.execute_interactive(code, timeout=60, output_hook=keep)
                assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            client.stop_channels()
        mcp_config = next(text for text in results if "mcpServers" in text)
        yield {
            "JUPYTER_URL": server.url.rstrip("/"),
            "JUPYTER_TOKEN": server.token,
            "KERNEL_ID": kernel_id,
            "MCP_CONFIG": mcp_config,
        }
    finally:
        server.stop()


def test_http_examples_answer(readme_server: dict[str, str]) -> None:
    # (The "Serve a notebook" section's run against `serve`: tests/server/test_serve_cli.py.)
    http = curl_blocks(section("HTTP API"))
    invoke_json, invoke_form, describe, invalid = [json_documents(run_curl(b, readme_server)) for b in http]
    assert invoke_json == [{"value": {"title": "Buy milk", "priority": "high"}}]
    assert invoke_form == [{"value": {"title": "Walk the dog", "priority": "low"}}]
    actions, openapi = describe
    assert [a["name"] for a in actions["actions"]] == ["add_todo"]
    assert openapi["openapi"].startswith("3.1") and any("add_todo" in path for path in openapi["paths"])
    (error,) = invalid
    assert {e["field"] for e in error["errors"]} == {"title", "priority"}


def json_documents(text: str) -> list[Any]:
    """The JSON documents curl printed, one after another."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, end = decoder.raw_decode(text, at)
        documents.append(document)
        at = end + len(text[end:]) - len(text[end:].lstrip())
    return documents


def test_mcp_client_with_the_printed_config_lists_and_calls(readme_server: dict[str, str]) -> None:
    """An MCP client configured with what mcp_config() printed (the token filled in)."""
    import anyio
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    (entry,) = json.loads(readme_server["MCP_CONFIG"])["mcpServers"].values()
    headers = {k: v.replace("${JUPYTER_TOKEN}", readme_server["JUPYTER_TOKEN"]) for k, v in entry["headers"].items()}
    assert entry["url"].startswith(readme_server["JUPYTER_URL"])

    async def use() -> tuple[list[str], Any]:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(entry["url"], http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = [tool.name for tool in (await session.list_tools()).tools]
            result = await session.call_tool("add_todo", {"title": "Ask an agent"})
            return tools, result.structured_content

    tools, value = anyio.run(use)
    assert tools == ["add_todo"]
    assert value == {"title": "Ask an agent", "priority": "normal"}
