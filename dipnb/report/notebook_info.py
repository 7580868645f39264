"""What the report shows about a notebook without rendering it: title, "what you will do" line, sections, key figure."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

#: A cell carrying this tag holds the notebook's key figure, shown on the report's landing page and in REPORT.md (else
#: the largest image output is used). Invisible in JupyterLab unless you open the cell's tags.
KEY_FIGURE_TAG = "key-figure"


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _cells(nb_or_path: Any) -> list[Any]:
    if isinstance(nb_or_path, (str, Path)):
        return json.loads(Path(nb_or_path).read_text(encoding="utf-8")).get("cells", [])
    return list(nb_or_path.get("cells", []))


def notebook_title(nb_or_path: Any) -> str:
    """The first Markdown heading of a notebook (a path or a notebook node), else its file name."""
    for cell in _cells(nb_or_path):
        if cell.get("cell_type") != "markdown":
            continue
        for line in _source(cell).splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return Path(nb_or_path).stem if isinstance(nb_or_path, (str, Path)) else "notebook"


def what_you_will_do(nb_or_path: Any) -> str:
    """The "**What you will do.**" paragraph of the notebook's opening (Markdown, marker removed), or ``""``."""
    for cell in _cells(nb_or_path)[:3]:
        if cell.get("cell_type") != "markdown":
            continue
        text = _source(cell)
        m = re.search(r"\*\*What you will do\.?\*\*\s*(.+?)(?:\n\s*\n|\Z)", text, flags=re.S)
        if m:
            return " ".join(m.group(1).split())
    return ""


def markdown_section(nb_or_path: Any, heading: str) -> str:
    """The Markdown of the section whose ``##`` heading starts with ``heading`` (up to the next ``#``/``##``)."""
    out: list[str] = []
    inside = False
    for cell in _cells(nb_or_path):
        text = _source(cell)
        if cell.get("cell_type") != "markdown":
            continue
        for line in text.splitlines():
            if re.match(r"#{1,2} ", line):
                if inside:
                    return "\n".join(out).strip()
                inside = line.lstrip("#").strip().lower().startswith(heading.lower())
                continue
            if inside:
                out.append(line)
        if inside:
            out.append("")
    return "\n".join(out).strip()


def summary(nb_or_path: Any) -> str:
    """The notebook's summary: its ``## Summary`` section, else a paragraph that opens with ``**Summary.**``."""
    section = markdown_section(nb_or_path, "Summary")
    if section:
        return section
    for cell in _cells(nb_or_path):
        if cell.get("cell_type") == "markdown":
            m = re.search(r"\*\*Summary\.\*\*\s*(.+?)(?:\n\s*\n|\Z)", _source(cell), flags=re.S)
            if m:
                return m.group(1).strip()
    return ""


def exercise_headings(nb_or_path: Any) -> list[str]:
    """The headings of the notebook's exercises (``### Exercise · …``), without the marker."""
    found = []
    for cell in _cells(nb_or_path):
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                m = re.match(r"#{2,4} Exercise · (.+)", line)
                if m:
                    found.append(m.group(1).strip())
    return found


def image_outputs(nb: Any) -> list[tuple[int, bytes]]:
    """Every PNG output of an executed notebook as ``(cell index, bytes)``, in order."""
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data", {})
            if "image/png" in data:
                payload = data["image/png"]
                payload = "".join(payload) if isinstance(payload, list) else payload
                found.append((i, base64.b64decode(payload)))
    return found


def key_figure(nb: Any) -> bytes | None:
    """The PNG of the notebook's key figure: the output of a cell tagged ``key-figure``, else the largest image."""
    from PIL import Image

    images = image_outputs(nb)
    if not images:
        return None
    cells = nb.get("cells", [])
    tagged = [png for i, png in images if KEY_FIGURE_TAG in cells[i].get("metadata", {}).get("tags", [])]
    if tagged:
        return tagged[0]

    def area(png: bytes) -> int:
        with Image.open(io.BytesIO(png)) as im:
            return im.width * im.height

    return max((png for _, png in images), key=area)


def thumbnail(png: bytes, width: int = 360) -> bytes:
    """``png`` scaled to ``width`` pixels wide (never enlarged), as PNG bytes."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, max(1, round(im.height * width / im.width))), Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="png", optimize=True)
    return buf.getvalue()


__all__ = ["KEY_FIGURE_TAG", "exercise_headings", "image_outputs", "key_figure", "markdown_section",
           "notebook_title", "summary", "thumbnail", "what_you_will_do"]
