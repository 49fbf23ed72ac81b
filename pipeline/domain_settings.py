"""The settings model every domain's settings extend (`domain:` in config); light to import."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer


class DomainSettings(BaseModel):
    """A domain's settings: its `name` (registered or `module:Class`) and, in subclasses, its own keys.

    A domain with no other settings (the default `molecule`) is written as its name alone, so a
    config reads `domain: molecule` and its digest is the one it had before domains had settings.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str

    @model_serializer(mode="wrap")
    def _name_alone(self, handler: Any) -> Any:
        data = handler(self)
        return data["name"] if isinstance(data, dict) and set(data) == {"name"} else data
