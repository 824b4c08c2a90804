"""Strict request fields shared by every API (the WedSync events API and the Outlook API).

- :class:`StrictRequestSerializer`: the body (or query) must be a JSON object with only documented keys;
- :class:`StrictBooleanField`: only JSON ``true`` / ``false``;
- :class:`Choice`: a choice whose error lists the allowed values and echoes at most 40 characters of the input.
"""
from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from .api_errors import shorten


class StrictBooleanField(serializers.BooleanField):
    """Only JSON ``true`` / ``false``: no "no", 0, "1" or "yes" taken for a boolean."""

    default_error_messages = {"invalid": "Send true or false (a JSON boolean)."}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid")


class Choice(serializers.ChoiceField):
    """A ChoiceField whose error lists the allowed values and echoes at most a short part of what was sent."""

    def to_internal_value(self, data):
        if data == "" and self.allow_blank:
            return ""
        if isinstance(data, str) and data in self.choice_strings_to_values:
            return self.choice_strings_to_values[data]
        allowed = ", ".join(f'"{c}"' for c in self.choice_strings_to_values)
        raise serializers.ValidationError(f"“{shorten(data, 40)}” isn't allowed here; use one of {allowed}.", code="invalid_choice")


class StrictRequestSerializer(serializers.Serializer):
    """A request body (or query) that must be a JSON object with only the documented keys."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": [f"Send a JSON object, not {_json_kind(data)}."]}, code="invalid")
        unknown = [key for key in data.keys() if key not in self.fields]
        if unknown:
            raise serializers.ValidationError(
                {shorten(key, 60): ["This field isn't part of this request (check its spelling: fields are camelCase)."] for key in unknown[:20]},
                code="unknown_field")
        return super().to_internal_value(data)


def _json_kind(data) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "text"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, (int, float)):
        return "a number"
    if data is None:
        return "null"
    return "that"


