"""The one base for JSON request bodies: a field the model does not know is refused (422, the field named)
instead of being dropped without a word (a typo like `"confrim": false` must not pass as the default)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know (422) instead of ignoring them."""

    model_config = ConfigDict(extra="forbid")


__all__ = ["StrictBody"]
