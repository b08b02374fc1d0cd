"""The built API reference reads as written for users: one signature per function, no Sphinx roles,
no private module headings, default values rather than constant names.

Reads the site the nox ``docs`` session builds (``DOCS_SITE_DIR``); skips when run without it.
"""

from __future__ import annotations

import html
import inspect
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_TAGS = re.compile(r"<[^>]+>")
# An object's entry: from its heading to the next heading of any level (members have their own).
_HEADING = re.compile(r'<h\d id="(flyteplugins\.[\w.]+)"')


def _entries(page: str) -> dict[str, str]:
    parts = _HEADING.split(page)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _text(fragment: str) -> str:
    return html.unescape(_TAGS.sub("", fragment))


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    site = os.environ.get("DOCS_SITE_DIR")
    if not site:
        pytest.skip("DOCS_SITE_DIR not set (the nox `docs` session builds the site and sets it)")
    found = {str(p.relative_to(site)): p.read_text() for p in Path(site).glob("reference/**/index.html")}
    assert found, f"no API reference pages under {site}"
    return found


def test_no_sphinx_roles_in_rendered_docstrings(pages: dict[str, str]) -> None:
    # mkdocstrings renders Markdown: a `:func:` role shows up literally in front of the name.
    hits = {p: re.findall(r":(?:func|class|meth|data|attr|mod|exc|obj):\S*", _text(t)) for p, t in pages.items()}
    assert not {p: h for p, h in hits.items() if h}


def test_no_private_module_headings(pages: dict[str, str]) -> None:
    private = {p: re.findall(r'<h\d id="([^"]*\._[^"]*)"', t) for p, t in pages.items()}
    assert not {p: ids for p, ids in private.items() if ids}


def test_every_function_has_exactly_one_signature(pages: dict[str, str]) -> None:
    counts = {a: b.count('class="doc-signature') for t in pages.values() for a, b in _entries(t).items()}
    assert counts.get("flyteplugins.wandb.wandb_init") == 1, counts
    assert {a: n for a, n in counts.items() if n > 1} == {}


def test_wandb_init_signature_is_the_readable_one(pages: dict[str, str]) -> None:
    body = next(
        e["flyteplugins.wandb.wandb_init"]
        for e in map(_entries, pages.values())
        if "flyteplugins.wandb.wandb_init" in e
    )
    found = re.search(r'class="doc-signature[^>]*>(.*?)</div>', body, re.S)
    assert found
    signature = _text(found.group(1))
    assert "_func: F | None = None" in signature and "-> F | Callable[[F], F]" in signature, signature
    assert "Any = None" not in signature


def test_defaults_show_values_not_constant_names(pages: dict[str, str]) -> None:
    signatures = [
        _text(s) for t in pages.values() for s in re.findall(r'class="doc-signature[^>]*>(.*?)</div>', t, re.S)
    ]
    assert signatures
    named = [s for s in signatures if re.search(r"=\s*[A-Z][A-Z0-9_]{2,}\b", s)]
    assert not named, named


def test_written_out_defaults_match_the_constants() -> None:
    # The download helpers spell out their worker count for the docs; it must stay the module's default.
    from flyteplugins.wandb_core import _download

    for name in ("download_wandb_run_dir", "download_wandb_sweep_dirs"):
        default = inspect.signature(getattr(_download, name)).parameters["max_workers"].default
        assert default == _download.DEFAULT_WORKERS, name
