"""Turning request bodies and form posts into msgspec Structs, with messages a person can act on."""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from functools import cache
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import msgspec

from backend.errors import InvalidInput

StructT = TypeVar("StructT", bound=msgspec.Struct)

# What an email address must look like wherever one is typed (accounts, a district's roster and its CSV import).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Expected `str` of length >= 1"), "is required"),
    (re.compile(r"Expected `str` of length >= (\d+)"), "must be at least {0} characters"),
    (re.compile(r"Expected `str` of length <= (\d+)"), "must be at most {0} characters"),
    (re.compile(r"Expected `str` matching regex '\\\\S'"), "must not be blank"),
    (re.compile(r"Expected `str` matching regex"), "is not in the expected format"),
    (re.compile(r"Expected `(?:int|float)` >= (-?[\d.]+)"), "must be at least {0}"),
    (re.compile(r"Expected `(?:int|float)` <= (-?[\d.]+)"), "must be at most {0}"),
    (re.compile(r"Expected `int(?: \| null)?`"), "must be a whole number"),  # an optional number is `x | null`
    (re.compile(r"Expected `float(?: \| null)?`"), "must be a number"),
    (re.compile(r"Expected `str`"), "must be text"),
    (re.compile(r"Invalid enum value"), "is not one of the allowed choices"),
    (re.compile(r"Invalid UUID"), "is not one of the choices"),  # ids are chosen from a list, never typed
    (re.compile(r"Invalid RFC3339 encoded datetime"), "is not a date and time (2026-05-01T14:30:00Z)"),
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
    """The words for a field that has no label of its own: "retention_days" is "Retention days"."""
    return name.replace("_", " ").capitalize()


def label(text: str) -> msgspec.Meta:
    """A field's label, as its form shows it and every message about it says it:
    `display_name: Annotated[DisplayName, label("Your name")]`. (It is the field's title in the API schema too.)"""
    return msgspec.Meta(title=text)


def _title(annotation: Any) -> str | None:
    """The label given to a type with `label(...)`, looking inside Optional and a PATCH's `| UnsetType`."""
    if get_origin(annotation) is Annotated:
        titles = [m.title for m in annotation.__metadata__ if isinstance(m, msgspec.Meta) and m.title]
        return titles[-1] if titles else _title(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return next((t for arg in get_args(annotation) if (t := _title(arg))), None)
    return None


@cache
def labels(struct_type: type[msgspec.Struct]) -> dict[str, str]:
    """Each field's label by its name in forms and JSON, in the order of the Struct, which is the form's order."""
    return {f.encode_name: _title(f.type) or field_label(f.name) for f in msgspec.structs.fields(struct_type)}


def form_labels(name: str) -> dict[str, str]:
    """For templates, by the Struct's name in its domain's schemas: `{% set label = form_labels("registry.CameraIn") %}`
    then `f.input("range_m", label.range_m, ...)`; the page and every message then say the same words."""
    domain, struct_name = name.split(".")
    return labels(getattr(importlib.import_module(f"backend.{domain}.schemas"), struct_name))


def field_errors(struct_type: type[msgspec.Struct], values: Mapping[str, Any], *, form: bool) -> dict[str, str]:
    """Every wrong field of `values` with its message, in the Struct's (the form's) order; each field is checked
    on its own, so one wrong field does not hide the next (msgspec stops at the first). Unknown fields come first.

    A form (`form=True`) sends text: blank means absent and numbers are converted; unknown form fields (the CSRF
    token, buttons) are ignored. A JSON body is strict about types and names its unknown fields.
    """
    names = labels(struct_type)
    errors: dict[str, str] = {}
    if not form and struct_type.__struct_config__.forbid_unknown_fields:  # first: most often a misspelt name
        for name in values:
            if name not in names:
                errors[name] = f"{name} is not a field this request accepts"
    for field in msgspec.structs.fields(struct_type):
        name = field.encode_name
        value = values.get(name)
        if form and isinstance(value, str):
            value = value.strip()
        if name not in values or (form and value in (None, "")):
            if field.required:
                errors[name] = f"{names[name]} is required"
            continue
        try:
            msgspec.convert(value, field.type, strict=not form)
        except msgspec.ValidationError as exc:
            errors[name] = f"{names[name]} {humanize(str(exc))}"
    return errors


def parse_form(struct_type: type[StructT], form: Mapping[str, Any]) -> StructT:
    """Validate a posted form field by field, so every wrong field gets its message at once.

    Blank optional fields take their defaults; unknown form fields (the CSRF token, buttons) are ignored.
    """
    if errors := field_errors(struct_type, form, form=True):
        raise InvalidInput(errors)
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(struct_type):
        raw = form.get(field.encode_name)
        value = raw.strip() if isinstance(raw, str) else raw
        if value not in (None, ""):
            values[field.encode_name] = value
    return msgspec.convert(values, struct_type, strict=False)


def body_errors(struct_type: type[msgspec.Struct], body: bytes) -> dict[str, str]:
    """Every wrong field of a JSON body, for the API's answer when msgspec refused it (at its first error)."""
    try:
        values = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return field_errors(struct_type, values, form=False) if isinstance(values, dict) else {}


def partial(struct_type: type[msgspec.Struct], name: str) -> type[msgspec.Struct]:
    """The same fields, every one optional (UNSET when absent): the body of a PATCH."""
    fields = [(f.name, f.type | msgspec.UnsetType, msgspec.UNSET) for f in msgspec.structs.fields(struct_type)]
    return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True, module=struct_type.__module__)


def set_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried."""
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
