"""Interactive messages an agent sends inside the window: reply buttons and lists, checked
against Meta's limits before anything is stored (422 ``interactive_invalid`` naming the
field and the limit), then built in Meta's ``interactive`` shape.

Limits (Meta's interactive-reply-buttons and interactive-list pages): at most 3 buttons,
button title ≤ 20 and id ≤ 256 characters; a list has 1–10 sections and at most 10 rows in
all, row title ≤ 24, description ≤ 72, id ≤ 200, list button label ≤ 20, section title ≤ 24;
body ≤ 1024, footer ≤ 60, text header ≤ 60. Ids must be unique within the message.
"""

from __future__ import annotations

from typing import Any

from runtime.domain.errors import Invalid

MAX_BUTTONS = 3
MAX_ROWS = 10
MAX_SECTIONS = 10
BODY_MAX = 1024
FOOTER_MAX = 60
HEADER_MAX = 60
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
Json = dict[str, Any]


def _refuse(field: str, message: str, limit: int | None = None) -> Invalid:
    details: Json = {"field": field}
    if limit is not None:
        details["limit"] = limit
    return Invalid("interactive_invalid", message, details)


def _text(spec: Json, field: str, path: str, limit: int, *, required: bool = True) -> str | None:
    value = spec.get(field)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise _refuse(path, f"{path} is required.")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _refuse(path, f"{path} must be a non-empty text.")
    if len(value) > limit:
        raise _refuse(path, f"{path} is at most {limit} characters (got {len(value)}).", limit)
    return value


def _unique_ids(ids: list[str], path: str) -> None:
    seen: set[str] = set()
    for position, item in enumerate(ids):
        if item in seen:
            raise _refuse(f"{path}[{position}].id", f"id {item!r} is used twice.")
        seen.add(item)


def _buttons(spec: Json) -> Json:
    buttons = spec.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise _refuse("buttons", "Reply buttons need at least one button.")
    if len(buttons) > MAX_BUTTONS:
        raise _refuse(
            "buttons", f"At most {MAX_BUTTONS} reply buttons (got {len(buttons)}).", MAX_BUTTONS
        )
    built: list[Json] = []
    for position, button in enumerate(buttons):
        path = f"buttons[{position}]"
        button = button if isinstance(button, dict) else {}
        title = _text(button, "title", f"{path}.title", BUTTON_TITLE_MAX)
        reply_id = _text(button, "id", f"{path}.id", BUTTON_ID_MAX)
        built.append({"type": "reply", "reply": {"id": reply_id, "title": title}})
    _unique_ids([b["reply"]["id"] for b in built], "buttons")
    return {"buttons": built}


def _sections(spec: Json) -> Json:
    label = _text(spec, "button", "button", LIST_BUTTON_MAX)
    sections = spec.get("sections")
    if not isinstance(sections, list) or not sections:
        raise _refuse("sections", "A list needs at least one section.")
    if len(sections) > MAX_SECTIONS:
        raise _refuse("sections", f"At most {MAX_SECTIONS} sections.", MAX_SECTIONS)
    built, ids = [], []
    for s_position, section in enumerate(sections):
        section = section if isinstance(section, dict) else {}
        path = f"sections[{s_position}]"
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise _refuse(f"{path}.rows", "Every section needs at least one row.")
        built_rows = []
        for r_position, row in enumerate(rows):
            row = row if isinstance(row, dict) else {}
            row_path = f"{path}.rows[{r_position}]"
            built_row = {
                "id": _text(row, "id", f"{row_path}.id", ROW_ID_MAX),
                "title": _text(row, "title", f"{row_path}.title", ROW_TITLE_MAX),
            }
            description = _text(
                row, "description", f"{row_path}.description", ROW_DESCRIPTION_MAX, required=False
            )
            if description:
                built_row["description"] = description
            built_rows.append(built_row)
            ids.append(str(built_row["id"]))
        title = _text(
            section, "title", f"{path}.title", SECTION_TITLE_MAX, required=len(sections) > 1
        )
        built.append({**({"title": title} if title else {}), "rows": built_rows})
    if len(ids) > MAX_ROWS:
        raise _refuse("sections", f"At most {MAX_ROWS} rows in all (got {len(ids)}).", MAX_ROWS)
    _unique_ids(ids, "rows")
    return {"button": label, "sections": built}


def build_interactive(spec: Json) -> tuple[Json, str]:
    """Meta's ``interactive`` object for ``spec`` and the text the inbox shows for it.

    ``spec``: ``{"type": "button" | "list", "body", "header"?, "footer"?, "buttons"?,
    "button"?, "sections"?}``."""
    kind = spec.get("type")
    if kind not in ("button", "list"):
        raise _refuse("type", "type must be button or list.")
    body = _text(spec, "body", "body", BODY_MAX)
    interactive: Json = {"type": kind, "body": {"text": body}}
    header = _text(spec, "header", "header", HEADER_MAX, required=False)
    if header:
        interactive["header"] = {"type": "text", "text": header}
    footer = _text(spec, "footer", "footer", FOOTER_MAX, required=False)
    if footer:
        interactive["footer"] = {"text": footer}
    interactive["action"] = _buttons(spec) if kind == "button" else _sections(spec)
    return interactive, str(body)
