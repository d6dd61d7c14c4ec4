"""A served notebook as an app page: the notebook as its prime left it, rendered by nbconvert.

As Voila's default: markdown rendered, code hidden, outputs shown, errors and stderr left
out (visitors are not the notebook's owner). The template is ours
(``templates/notebook_actions_app``): no script, style or font from anywhere but this
server. Widgets of notebook-actions (``Form``, ``ActionButton``, ``View``, ``ActionWidget``
subclasses) go in as their saved state, which the page's loader (``widgets/app.js``)
mounts with the same ES modules as JupyterLab; other widgets show their text fallback.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from nbconvert import HTMLExporter
from nbformat import NotebookNode

from ...widgets._esm import CLIENT_MARKER

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "notebook_actions_app"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

#: What a widget that cannot be live on the page says under its fallback.
STATIC_NOTE = "This widget needs a kernel of its own, which visitors of this page do not get: it is shown as saved."


def _live(model: dict[str, Any]) -> bool:
    """A widget the page can make live: an anywidget with notebook-actions' client."""
    state = model.get("state") or {}
    esm = state.get("_esm")
    return model.get("model_module") == "anywidget" and isinstance(esm, str) and CLIENT_MARKER in esm


#: How ``%%use_server``'s listing of the actions it registered starts: for the notebook's
#: author (kernel ids, curl routes), not for visitors.
REGISTERED = '<div class="notebook-actions-registered">'


def _visible(output: NotebookNode) -> bool:
    if output.get("output_type") == "error":
        return False
    if str((output.get("data") or {}).get("text/html", "")).startswith(REGISTERED):
        return False
    return not (output.get("output_type") == "stream" and output.get("name") == "stderr")


def app_widgets(notebook: NotebookNode) -> dict[str, Any]:
    """The live widgets' models for the page: ``{"models": {id: state}, "modules": {hash: esm}}``.

    Each model keeps its synced state (never a function, a bound argument or a secret:
    ``ActionTrait`` syncs only the widget view of an action's info, ``WIDGET_VIEW``); ES modules and CSS
    shared by several widgets travel once.
    """
    saved = (notebook.metadata.get("widgets") or {}).get(WIDGET_STATE) or {}
    models: dict[str, Any] = {}
    modules: dict[str, str] = {}
    for model_id, model in (saved.get("state") or {}).items():
        if not _live(model):
            continue
        state = dict(model.get("state") or {})
        refs = {}
        for key in ("_esm", "_css"):
            text = state.pop(key, None)
            if isinstance(text, str):
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                modules[digest] = text
                refs[key] = digest
        models[model_id] = {"state": state, **refs}
    return {"models": models, "modules": modules}


def widget_marker(model_id: str) -> str:
    """Where a live widget's HTML before JavaScript goes: filled on each page load."""
    return f"<!--notebook-actions-widget:{model_id}-->"


def prerendered(no_script: str, *, view_html: str | None = None, fresh: bool = True) -> str:
    """A widget as the page shows it before (and without) JavaScript, which the loader then
    replaces with the live widget; a view's HTML as rendered for this load goes along (inert,
    in a template) for the live view to start from."""
    if view_html is None:
        return f'<div class="na-app-prerender">{no_script}</div>'
    template = f'<template class="na-app-view-html">{view_html}</template>'
    return f'<div class="na-app-prerender" data-fresh="{str(fresh).lower()}">{no_script}{template}</div>'


def page_views(models: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The page's views: their render action's id and the HTML the prime saved, by model id."""
    views = {}
    for model_id, model in models.items():
        ref = model["state"].get("render_action")
        if isinstance(ref, dict) and isinstance(ref.get("id"), str):
            views[model_id] = (ref["id"], str(model["state"].get("value") or ""))
    return views


def _page_notebook(notebook: NotebookNode, live: set[str]) -> NotebookNode:
    """A copy without what visitors do not see: errors, stderr, code cells with nothing shown."""
    shown = copy.deepcopy(notebook)
    cells = []
    for cell in shown.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.get("outputs", []) if _visible(output)]
            for output in cell.outputs:
                view = (output.get("data") or {}).get(WIDGET_VIEW)
                if isinstance(view, dict):
                    output.metadata = {**output.get("metadata", {}), "na_live": view.get("model_id") in live}
            if not cell.outputs:
                continue
        cells.append(cell)
    shown.cells = cells
    # (The widget state stays: nbconvert shows a widget's view only when the notebook has its
    # state. Our template embeds only the live widgets' state, as app_widgets makes it.)
    return shown


def render_page(
    notebook: NotebookNode, *, title: str, config: dict[str, Any]
) -> tuple[str, dict[str, tuple[str, str]]]:
    """The app page's HTML, and its views (``page_views``), whose markers the page handler
    fills on each load; ``config`` goes to the loader (its URLs)."""
    widgets = app_widgets(notebook)
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        extra_template_basedirs=[str(TEMPLATES)],
        template_name=TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources = {
        "metadata": {"name": title},
        "notebook_actions_app": {**config, **widgets},
        "notebook_actions_static_note": STATIC_NOTE,
        "notebook_actions_css": (TEMPLATES / TEMPLATE_NAME / "app.css").read_text(encoding="utf-8"),
        "notebook_actions_markers": {model_id: widget_marker(model_id) for model_id in widgets["models"]},
    }
    body, _ = exporter.from_notebook_node(_page_notebook(notebook, set(widgets["models"])), resources=resources)
    return body, widgets["models"]
