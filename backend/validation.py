"""Turning request bodies and form posts into msgspec Structs, with messages a person can act on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from backend.errors import InvalidInput

StructT = TypeVar("StructT", bound=msgspec.Struct)

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Expected `str` of length >= 1"), "is required"),
    (re.compile(r"Expected `str` of length >= (\d+)"), "must be at least {0} characters"),
    (re.compile(r"Expected `str` of length <= (\d+)"), "must be at most {0} characters"),
    (re.compile(r"Expected `str` matching regex '\\\\S'"), "must not be blank"),
    (re.compile(r"Expected `str` matching regex"), "is not in the expected format"),
    (re.compile(r"Expected `(?:int|float)` >= (-?[\d.]+)"), "must be at least {0}"),
    (re.compile(r"Expected `(?:int|float)` <= (-?[\d.]+)"), "must be at most {0}"),
    (re.compile(r"Expected `int`"), "must be a whole number"),
    (re.compile(r"Expected `float`"), "must be a number"),
    (re.compile(r"Expected `str`"), "must be text"),
    (re.compile(r"Invalid enum value"), "is not one of the allowed choices"),
    (re.compile(r"Object missing required field"), "is required"),
    (re.compile(r"Object contains unknown field"), "is not a field this request accepts"),
]


def _number(text: str) -> str:
    return text[:-2] if text.endswith(".0") else text


def humanize(message: str) -> str:
    """msgspec's 'Expected `float` <= 90.0 - at `$.latitude`' becomes 'must be at most 90'."""
    for pattern, template in _RULES:
        if match := pattern.search(message):
            return template.format(*(_number(g) for g in match.groups()))
    return message.split(" - at ", 1)[0]


_FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`|at `\$\.([^`\[]+)")


def field_of(message: str, default: str) -> str:
    """The field a msgspec message is about ('... unknown field `x`', '... - at `$.x`'), else the default."""
    if match := _FIELD_IN_MESSAGE.search(message):
        return match.group(1) or match.group(2)
    return default.split("[", 1)[0]  # "muted_kinds[0]" names the field "muted_kinds"


def field_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def parse_form(struct_type: type[StructT], form: Mapping[str, Any]) -> StructT:
    """Validate a posted form field by field, so every wrong field gets its message at once.

    Blank optional fields take their defaults; unknown form fields (the CSRF token, buttons) are ignored.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(struct_type):
        raw = form.get(field.encode_name)
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, ""):
            if field.required:
                errors[field.encode_name] = f"{field_label(field.name)} is required"
            continue
        try:
            msgspec.convert(value, field.type, strict=False)
        except msgspec.ValidationError as exc:
            errors[field.encode_name] = f"{field_label(field.name)} {humanize(str(exc))}"
            continue
        values[field.encode_name] = value
    if errors:
        raise InvalidInput(errors)
    return msgspec.convert(values, struct_type, strict=False)


def partial(struct_type: type[msgspec.Struct], name: str) -> type[msgspec.Struct]:
    """The same fields, every one optional (UNSET when absent): the body of a PATCH."""
    fields = [(f.name, f.type | msgspec.UnsetType, msgspec.UNSET) for f in msgspec.structs.fields(struct_type)]
    return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True, module=struct_type.__module__)


def set_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried."""
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
