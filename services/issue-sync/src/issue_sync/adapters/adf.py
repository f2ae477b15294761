"""Markdown -> Atlassian Document Format (ADF), the rich text Jira Cloud REST v3 requires.

Built on markdown-it's CommonMark token stream (plus tables and strikethrough): headings,
paragraphs, bullet and ordered lists, code blocks, block quotes, rules, tables, and inline
bold, italic, strike, code and links. HTML (our hidden marker) is dropped; Jira finds the
ticket by label instead.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

Node = dict[str, Any]
Mark = dict[str, Any]

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

_BLOCKS: dict[str, str] = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "bulletList",
    "ordered_list_open": "orderedList",
    "list_item_open": "listItem",
    "blockquote_open": "blockquote",
    "table_open": "table",
    "tr_open": "tableRow",
    "th_open": "tableHeader",
    "td_open": "tableCell",
    "heading_open": "heading",
}
_TRANSPARENT = {"thead_open", "thead_close", "tbody_open", "tbody_close"}
_CELLS = {"tableHeader", "tableCell"}
_MARKS = {"strong_open": "strong", "em_open": "em", "s_open": "strike"}
_MARK_CLOSE = {
    "strong_close": "strong",
    "em_close": "em",
    "s_close": "strike",
    "link_close": "link",
}


def to_adf(markdown: str) -> Node:
    """Convert markdown to an ADF document: {"type": "doc", "version": 1, "content": [...]}."""
    doc: Node = {"type": "doc", "version": 1, "content": []}
    stack: list[Node] = [doc]
    for tok in _MD.parse(markdown):
        _block(tok, stack)
    return doc


def _block(tok: Token, stack: list[Node]) -> None:
    if tok.type in _TRANSPARENT or tok.type == "html_block":
        return
    if tok.nesting == 1:
        node = _open(tok)
        stack[-1]["content"].append(node)
        stack.append(node)
    elif tok.nesting == -1:
        stack.pop()
    elif tok.type == "inline":
        _inline_into(stack[-1], tok.children or [])
    elif tok.type in ("fence", "code_block"):
        stack[-1]["content"].append(_code(tok))
    elif tok.type == "hr":
        stack[-1]["content"].append({"type": "rule"})


def _open(tok: Token) -> Node:
    kind = _BLOCKS.get(tok.type, "paragraph")
    node: Node = {"type": kind, "content": []}
    if kind == "heading":
        node["attrs"] = {"level": int(tok.tag[1])}
    elif kind == "orderedList":
        node["attrs"] = {"order": int(str(tok.attrGet("start") or 1))}
    elif kind == "table":
        node["attrs"] = {"isNumberColumnEnabled": False, "layout": "default"}
    return node


def _code(tok: Token) -> Node:
    node: Node = {"type": "codeBlock", "attrs": {}}
    language = (tok.info or "").strip().split(" ")[0]
    if language:
        node["attrs"]["language"] = language
    text = tok.content.rstrip("\n")
    if text:
        node["content"] = [{"type": "text", "text": text}]
    return node


def _inline_into(parent: Node, children: list[Token]) -> None:
    nodes = inline_nodes(children)
    if parent["type"] in _CELLS:
        parent["content"].append({"type": "paragraph", "content": nodes})
    else:
        parent["content"].extend(nodes)


def inline_nodes(children: list[Token]) -> list[Node]:
    """Inline tokens -> ADF text nodes with marks (code only ever combines with link)."""
    out: list[Node] = []
    marks: list[Mark] = []
    for tok in children:
        if tok.type in _MARKS:
            marks.append({"type": _MARKS[tok.type]})
        elif tok.type == "link_open":
            marks.append({"type": "link", "attrs": {"href": str(tok.attrGet("href") or "")}})
        elif tok.type in _MARK_CLOSE:
            _pop(marks, _MARK_CLOSE[tok.type])
        elif tok.type == "code_inline":
            links = [m for m in marks if m["type"] == "link"]
            _text(out, tok.content, [{"type": "code"}, *links])
        elif tok.type == "hardbreak":
            out.append({"type": "hardBreak"})
        elif tok.type == "softbreak":
            _text(out, " ", marks)
        elif tok.type == "image":
            _text(out, tok.content or str(tok.attrGet("src") or ""), marks)
        elif tok.type == "text":
            _text(out, tok.content, marks)
    return out


def _pop(marks: list[Mark], kind: str) -> None:
    for i in range(len(marks) - 1, -1, -1):
        if marks[i]["type"] == kind:
            del marks[i]
            return


def _text(out: list[Node], text: str, marks: list[Mark]) -> None:
    if not text:
        return
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = [dict(m) for m in marks]
    prev = out[-1] if out else None
    if prev and prev["type"] == "text" and prev.get("marks") == node.get("marks"):
        prev["text"] += text
    else:
        out.append(node)
