"""drf-spectacular hook: fields a ``ContractSerializer`` leaves out when empty (``?`` in the spec) are not required."""
from __future__ import annotations


def drop_optional_from_required(result, generator, request, public):
    from .serializers import ContractSerializer

    optional: dict[str, set[str]] = {}

    def walk(cls) -> None:
        for sub in cls.__subclasses__():
            optional[sub.__name__.removesuffix("Serializer")] = set(sub.optional_fields)
            walk(sub)

    walk(ContractSerializer)
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        fields = optional.get(name)
        if fields and "required" in schema:
            schema["required"] = [field for field in schema["required"] if field not in fields]
            if not schema["required"]:
                del schema["required"]
    return result
