"""View and revalidate: outputs that re-render in the kernel after an action."""

from __future__ import annotations

from notebook_actions import View, action, revalidate, testing


def test_views_re_render_when_their_tag_is_revalidated() -> None:
    items: list[str] = []
    todos = View(lambda: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>", tags=["todos"])
    other = View(lambda: f"{len(items)} items", tags=["count"])

    @action
    def add(title: str) -> None:
        items.append(title)
        revalidate("todos")

    assert todos.value == "<ul></ul>"
    testing.invoke(add, {"title": "milk"})
    assert todos.value == "<ul><li>milk</li></ul>"
    assert other.value == "0 items"  # not tagged: not re-rendered
    assert revalidate() == 2
    assert other.value == "1 items"


def test_a_failing_render_shows_the_error_in_the_view() -> None:
    view = View(lambda: 1 / 0)
    assert "ZeroDivisionError" in view.value


def test_objects_with_html_reprs_render_as_html() -> None:
    class Table:
        def _repr_html_(self) -> str:
            return "<table></table>"

    assert View(Table).value == "<table></table>"
