"""Input types shared by every router."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL (U+0000) characters")
    return value


#: Text a node may store: PostgreSQL text columns cannot hold NUL characters, so they are
#: refused at the door with a 422 naming the field, on every backend alike.
Text = Annotated[str, AfterValidator(_no_nul)]
