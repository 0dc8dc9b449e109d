"""Learner HTML and JavaScript never reach an instructor's browser as code.

The feedback pages and the notebooks formgrader shows are rendered by nbconvert, which copies
``text/html`` outputs, ``application/javascript`` outputs and the raw HTML of markdown cells
into the page as they are: a learner's ``<script>`` or ``<img onerror=...>`` would then run in
the instructor's Jupyter origin (where it can act as the instructor). :func:`sanitize_notebook`
cleans a notebook *before* anything renders it:

- ``text/html`` outputs go through `nh3 <https://nh3.readthedocs.io>`_ (the Python binding of
  the Rust sanitizer ammonia) with an allow-list: formatting, tables, lists, links and images;
  no script, style sheet, form, frame, object, SVG or event handler; ``style`` attributes keep
  only a few harmless properties (no ``position``, so nothing can be laid over the page); links
  only ``http``, ``https`` and ``mailto`` (``noopener noreferrer``), no relative URL (none can
  point at the instructor's own Jupyter server); images only those URLs and ``data:`` PNG, JPEG,
  GIF or WebP. A pandas table (``class="dataframe"``) stays a table.
- ``application/javascript``, widget views, ``image/svg+xml`` (it can carry scripts), mermaid
  diagrams and every other type nbconvert would not show as inert text or a raster image are
  dropped; an output left with nothing says so in ``text/plain``. ``image/png``, ``image/jpeg``
  and ``image/gif`` are kept when they are base64; ``text/plain`` and ``text/latex`` are kept
  (nbconvert escapes them; its MathJax loads with the ``Safe`` extension).
- ``text/markdown`` outputs and markdown cells are rendered as nbconvert renders them; if that
  rendering holds raw HTML, a link with a scheme other than ``http``/``https``/``mailto``
  (``javascript:``) or a mermaid diagram, the source is replaced by the nh3-cleaned rendering (an
  HTML block, which renders the same). A markdown cell without any of these is left as it is, to
  the byte.
- Raw cells are cleaned as HTML; output and cell fields nbconvert reads but nbformat does not
  define (``svg_filename``, ``metadata.filenames``) and the notebook's widget state are removed;
  ``execution_count`` becomes an int or ``None``.

The result is safe to render with nbconvert's HTML exporters (lab and classic templates, so
nbgrader's feedback and formgrade templates too) without their own ``sanitize_html`` option.
Code cells' sources are left alone (nbconvert highlights them as text).
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import re
from typing import Any

import nh3
from nbformat import NotebookNode, from_dict

__all__ = [
    "KEPT_MIME_TYPES",
    "SanitizeLearnerHTML",
    "clean_html",
    "sanitize_markdown",
    "sanitize_notebook",
]

#: Output types kept (in this order of preference nbconvert does not change); all others are dropped.
KEPT_MIME_TYPES = (
    "text/html",
    "text/markdown",
    "text/latex",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/plain",
)
_RASTER = {"image/png", "image/jpeg", "image/gif"}
_URL_SCHEMES = {"http", "https", "mailto"}
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z", re.I)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*\Z")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]+")
_PRE = re.compile(r"(<pre\b[^>]*>)(.*?)(</pre>)", re.S | re.I)
_BLANK_LINES = re.compile(r"\n\s*\n")
#: The wrapper of a markdown cell this module rewrote: its rendering is its own source.
SANITIZED_MARKER = "<!-- sanitized by the course grader: learner HTML removed -->"

_TAGS = (nh3.ALLOWED_TAGS | {"tfoot"}) - {"area", "map"}
_CLEAN_CONTENT_TAGS = {
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "noscript",
    "noembed",
    "noframes",
    "template",
    "svg",
    "math",
    "textarea",
    "select",
    "title",
    "xmp",
    "plaintext",
    "head",
    "canvas",
    "audio",
    "video",
}
_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items() if tag not in ("area", "map")}
_ATTRIBUTES["*"] = {"style", "title", "lang", "dir"}
_ATTRIBUTES["table"] = _ATTRIBUTES.get("table", set()) | {"border", "cellpadding", "cellspacing"}
_STYLE_PROPERTIES = {
    "text-align",
    "vertical-align",
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "font-family",
    "font-size",
    "text-decoration",
    "white-space",
    "border",
    "border-collapse",
    "border-color",
    "border-style",
    "border-width",
    "padding",
    "margin",
    "width",
    "max-width",
    "min-width",
    "line-height",
}


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    if attribute in ("src", "href", "cite"):
        bare = _CONTROL_OR_SPACE.sub("", html.unescape(value))
        scheme = _SCHEME.match(bare)
        if scheme is None:
            return None  # relative: would point at the instructor's own server
        name = scheme.group(1).lower()
        if name == "data":
            return value if element == "img" and attribute == "src" and _DATA_IMAGE.match(bare) else None
        return value if name in _URL_SCHEMES else None
    return value


_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_CLEAN_CONTENT_TAGS,
    attributes=_ATTRIBUTES,
    allowed_classes={"table": {"dataframe"}},
    filter_style_properties=_STYLE_PROPERTIES,
    url_schemes=_URL_SCHEMES | {"data"},
    attribute_filter=_attribute_filter,
    link_rel="noopener noreferrer",
    strip_comments=True,
)


_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>", re.I)


def clean_html(fragment: str) -> str:
    """``fragment`` through nh3 with this module's allow-list (see the module docstring); an image whose
    source was refused goes too (it would show as a broken image)."""
    return _IMG_WITHOUT_SRC.sub("", _CLEANER.clean(fragment))


# --------------------------------------------------------------------------- markdown


def _renderer_class():
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class _Watching(IPythonRenderer):
        """nbconvert's own markdown renderer, noting what would reach the page unescaped."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.findings: list[str] = []

        def block_html(self, html_text: str) -> str:
            self.findings.append("raw HTML")
            return super().block_html(html_text)

        def inline_html(self, html_text: str) -> str:
            self.findings.append("raw HTML")
            return super().inline_html(html_text)

        def block_mermaidjs(self, code: str) -> str:
            self.findings.append("a mermaid diagram")
            return super().block_mermaidjs(code)

        def link(self, text: str, url: str, title: str | None = None) -> str:
            rendered = super().link(text, url, title)
            match = re.search(r'href="([^"]*)"', rendered)
            if match and not _harmless_link(match.group(1)):
                self.findings.append("a link that is not http, https or mailto")
            return rendered

        def image(self, text: str, url: str, title: str | None = None) -> str:
            try:
                return super().image(text, url, title)
            except Exception:  # a missing attachment: nbconvert would fail on it
                self.findings.append("an image it cannot show")
                return ""

    return _Watching


def _harmless_link(href: str) -> bool:
    bare = _CONTROL_OR_SPACE.sub("", html.unescape(href))
    scheme = _SCHEME.match(bare)
    return scheme is None or scheme.group(1).lower() in _URL_SCHEMES


def _render(source: str, attachments: dict | None) -> tuple[str, list[str]]:
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer = _renderer_class()(escape=False, attachments=attachments or {}, embed_images=False, path="")
    rendered = MarkdownWithMath(renderer=renderer).render(source)
    return rendered, renderer.findings


def _html_block(fragment: str) -> str:
    """``fragment`` as one markdown HTML block that every CommonMark renderer passes through whole:
    inside ``<pre>`` a newline becomes ``&#10;``, elsewhere blank lines (which end an HTML block) go."""
    fragment = _PRE.sub(lambda m: m.group(1) + m.group(2).replace("\n", "&#10;") + m.group(3), fragment)
    fragment = _BLANK_LINES.sub("\n", fragment).strip()
    return f"<div>\n{SANITIZED_MARKER}\n{fragment}\n</div>"


def sanitize_markdown(source: str, attachments: dict | None = None) -> tuple[str, list[str]]:
    """``(source, [])`` if nbconvert renders ``source`` with nothing but markdown's own, harmless HTML;
    else ``(safe, findings)``: ``safe`` is the cleaned rendering as an HTML block (it renders the same,
    and renders to itself), ``findings`` says what was there ("raw HTML", ...)."""
    if source.startswith("<div>\n" + SANITIZED_MARKER + "\n"):
        # ours already: clean it again (idempotent), never trust the marker alone
        inner = source[len("<div>\n" + SANITIZED_MARKER + "\n") :]
        cleaned = _html_block(clean_html(inner.removesuffix("</div>")))
        return (source, []) if cleaned == source else (cleaned, ["raw HTML"])
    rendered, findings = _render(source, attachments)
    if not findings:
        return source, []
    return _html_block(clean_html(rendered)), sorted(set(findings))


# --------------------------------------------------------------------------- outputs


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    if isinstance(value, list):  # nbformat allows a list of lines
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def _image_metadata(metadata: Any) -> dict:
    kept: dict[str, Any] = {}
    if not isinstance(metadata, dict):
        return kept
    for key in ("width", "height"):
        if isinstance(metadata.get(key), (int, float)) and not isinstance(metadata.get(key), bool):
            kept[key] = metadata[key]
    if isinstance(metadata.get("unconfined"), bool):
        kept["unconfined"] = metadata["unconfined"]
    if metadata.get("needs_background") in ("light", "dark"):
        kept["needs_background"] = metadata["needs_background"]
    if isinstance(metadata.get("alt"), str):
        kept["alt"] = metadata["alt"]
    return kept


def _clean_data(data: Any, metadata: Any, findings: list[str]) -> tuple[dict, dict]:
    data = data if isinstance(data, dict) else {}
    metadata = metadata if isinstance(metadata, dict) else {}
    kept: dict[str, Any] = {}
    kept_metadata: dict[str, Any] = {}
    dropped = [mime for mime in data if mime not in KEPT_MIME_TYPES]
    for mime in KEPT_MIME_TYPES:
        if mime not in data:
            continue
        value = _text(data[mime])
        if mime == "text/html":
            kept[mime] = clean_html(value)
        elif mime == "text/markdown":
            kept[mime], found = sanitize_markdown(value)
            findings.extend(found)
        elif mime in _RASTER:
            if _BASE64.match(value):
                try:
                    base64.b64decode("".join(value.split()), validate=True)
                except (binascii.Error, ValueError):
                    dropped.append(mime)
                    continue
                kept[mime] = value
                if mime in metadata:
                    kept_metadata[mime] = _image_metadata(metadata[mime])
            else:
                dropped.append(mime)
        else:  # text/plain, text/latex: nbconvert escapes them
            kept[mime] = value
    if dropped:
        findings.append("dropped " + ", ".join(sorted(set(dropped))))
        if not any(m in kept for m in ("text/html", "text/markdown", "text/plain", *_RASTER)):
            kept["text/plain"] = (
                kept.get("text/plain", "")
                + "[output of type "
                + ", ".join(sorted(set(dropped)))
                + " not shown: it could run code in the reader's browser]"
            )
    return kept, kept_metadata


def _clean_output(output: Any, findings: list[str]) -> NotebookNode | None:
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return from_dict({"output_type": "stream", "name": name, "text": _text(output.get("text"))})
    if kind == "error":
        traceback = output.get("traceback")
        lines = [_text(line) for line in traceback] if isinstance(traceback, list) else []
        return from_dict(
            {
                "output_type": "error",
                "ename": _text(output.get("ename")),
                "evalue": _text(output.get("evalue")),
                "traceback": lines,
            }
        )
    if kind in ("display_data", "execute_result"):
        data, metadata = _clean_data(output.get("data"), output.get("metadata"), findings)
        clean: dict[str, Any] = {"output_type": kind, "data": data, "metadata": metadata}
        if kind == "execute_result":
            clean["execution_count"] = _count(output.get("execution_count"))
        return from_dict(clean)
    findings.append(f"dropped an output of type {kind!r}")
    return None


# --------------------------------------------------------------------------- notebooks


def sanitize_notebook(
    nb: NotebookNode, *, copy_notebook: bool = False, report: list[str] | None = None
) -> NotebookNode:
    """Clean every learner-controlled part of ``nb`` that nbconvert would render as HTML (see the module
    docstring). Changes ``nb`` **in place** and returns it (``copy_notebook=True``: a cleaned copy, ``nb``
    untouched). ``report``, if given, receives one line per cell that changed ("cell 3: raw HTML").
    Idempotent; code cells' sources, plain text, raster images and harmless markdown are unchanged."""
    if copy_notebook:
        nb = copy.deepcopy(nb)
    metadata = nb.get("metadata")
    if isinstance(metadata, dict) and "widgets" in metadata:
        del metadata["widgets"]
        if report is not None:
            report.append("notebook: widget state removed")
    for index, cell in enumerate(nb.get("cells", [])):
        findings: list[str] = []
        kind = cell.get("cell_type")
        if kind == "markdown":
            source, findings = sanitize_markdown(_text(cell.get("source")), cell.get("attachments"))
            cell["source"] = source
        elif kind == "raw":
            source = _text(cell.get("source"))
            cleaned = clean_html(source)
            if cleaned != source:
                findings.append("raw cell cleaned")
            cell["source"] = cleaned
        elif kind == "code":
            cell["execution_count"] = _count(cell.get("execution_count"))
            cell["outputs"] = [
                o for o in (_clean_output(o, findings) for o in cell.get("outputs", []) or []) if o
            ]
        if report is not None and findings:
            report.append(f"cell {index}: " + "; ".join(dict.fromkeys(findings)))
    return nb


# --------------------------------------------------------------------------- nbgrader plug-in

try:
    from nbgrader.preprocessors import NbGraderPreprocessor
except ImportError:  # pragma: no cover - nbgrader is a course requirement
    NbGraderPreprocessor = object  # type: ignore[misc,assignment]


class SanitizeLearnerHTML(NbGraderPreprocessor):  # type: ignore[misc,valid-type]
    """:func:`sanitize_notebook` as an nbgrader/nbconvert preprocessor, e.g. right after the execute step
    in ``c.Autograde.autograde_preprocessors`` (then the autograded notebooks that formgrader shows are
    clean on disk). Feedback needs no entry of its own: ``HideHiddenTests`` sanitizes too."""

    def preprocess(self, nb, resources):
        changes: list[str] = []
        sanitize_notebook(nb, report=changes)
        for line in changes:
            self.log.info("learner HTML: %s", line)
        return nb, resources
