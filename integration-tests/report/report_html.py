"""Helpers of the W&B report tab tests: a small HTML tree parser and the local report locations.

Flyte's local mode writes a task's report to ``/tmp/flyte/metadata/<run name>/<action>/report.html``
(``Run.url`` is the run's folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

LOCAL_METADATA = Path("/tmp/flyte/metadata")
LOCAL_RAW_DATA = Path("/tmp/flyte/raw_data")
TAB = "Weights & Biases"
_VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr"}


@dataclass
class Node:
    """A parsed HTML element: enough DOM for the assertions of these tests."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(c.text for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        out = []
        for node in self.iter():
            if tag is not None and node.tag != tag:
                continue
            if cls is not None and cls not in node.classes:
                continue
            if any(node.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(node)
        return out


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text_parts.append(data)


def parse_html(text: str) -> Node:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


@dataclass
class LocalReport:
    """The report.html files one local run wrote."""

    run_name: str
    paths: list[Path]
    outputs: Any = None
    error: BaseException | None = None

    @property
    def path(self) -> Path:
        assert len(self.paths) == 1, f"expected one report.html, found {self.paths}"
        return self.paths[0]

    @property
    def html(self) -> str:
        return self.path.read_text()

    @property
    def doc(self) -> Node:
        return parse_html(self.html)

    def tab_names(self) -> list[str]:
        return [li.text.strip() for li in self.doc.find_all("li")]

    def tab(self) -> Node:
        """The W&B tab's content (the ``div.fwb`` the plugin writes)."""
        [tab] = self.doc.find_all("div", cls="fwb")
        return tab


def find_reports(run_name: str) -> list[Path]:
    return sorted((LOCAL_METADATA / run_name).rglob("report.html"))
