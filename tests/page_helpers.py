"""Reading rendered pages in tests: a small element tree, forms as a browser submits them.

Only the standard library, so page tests need no extra packages. The tree is
forgiving (unclosed tags close with their parent), which is enough for the
service's own templates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list = field(default_factory=list)  # Element or str
    parent: Element | None = None

    def get(self, name: str, default=None):
        return self.attrs.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.attrs

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        parts: list[str] = []

        def walk(node):
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)

        walk(self)
        return "".join(parts)

    @property
    def clean_text(self) -> str:
        """Text with runs of whitespace collapsed, as a reader sees it."""
        return " ".join(self.text.split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs) -> list[Element]:
        """Descendants matching the tag, a class and exact attribute values (data_x -> data-x)."""
        wanted = {key.replace("_", "-"): value for key, value in attrs.items()}
        return [
            el for el in self.iter()
            if (tag is None or el.tag == tag)
            and (cls is None or cls in el.classes)
            and all(el.attrs.get(key) == value for key, value in wanted.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs) -> Element | None:
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> Element | None:
        return self.find(id=element_id)


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), parent=self.current)
        self.current.children.append(element)
        if tag not in VOID_TAGS:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def page_of(response) -> Element:
    return parse(response.get_data(as_text=True))


def form_data(form: Element) -> dict[str, list[str]]:
    """What a browser would submit for `form` unchanged (successful controls only)."""
    data: dict[str, list[str]] = {}

    def add(name, value):
        data.setdefault(name, []).append(value)

    for el in form.iter():
        name = el.get("name")
        if not name or el.has("disabled"):
            continue
        if el.tag == "input":
            kind = (el.get("type") or "text").lower()
            if kind in {"checkbox", "radio"}:
                if el.has("checked"):
                    add(name, el.get("value") or "on")
            elif kind not in {"submit", "button", "reset", "file", "image"}:
                add(name, el.get("value") or "")
        elif el.tag == "select":
            options = el.find_all("option")
            chosen = [o for o in options if o.has("selected")] or options[:1]
            for option in chosen:
                add(name, option.get("value") if option.get("value") is not None else option.text)
        elif el.tag == "textarea":
            text = el.text
            # The HTML parser keeps the newline a browser drops right after <textarea>.
            add(name, text[1:] if text.startswith("\n") else text)
    return data


def expert_rows(page: Element) -> list[tuple[int, str]]:
    """(expert id, name) of each row of the expert list, in order."""
    table = page.by_id("experts-table")
    if table is None:
        return []
    rows = table.find("tbody").find_all("tr")
    return [(int(row.get("data-expert-id")), row.find("td", cls="cell-name").find("a").clean_text) for row in rows]


def field_errors(page: Element) -> dict[str, list[str]]:
    """Messages shown under each field (ul.field-errors[data-field])."""
    return {ul.get("data-field"): [li.clean_text for li in ul.find_all("li")]
            for ul in page.find_all("ul", cls="field-errors")}


def flashes(page: Element) -> list[tuple[str, str]]:
    """(category, message) of each flash message."""
    return [(next(c for c in div.classes if c.startswith("flash-"))[6:], div.clean_text)
            for div in page.find_all("div", cls="flash")]
