"""Outgoing calls signed as a participant: an httpx `Auth` that mints a fresh token per request."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx

from dases.identity.keys import Signer
from dases.identity.tokens import sign_call_token


class SignedCallAuth(httpx.Auth):
    """Signs each request with a new single-use call token addressed to `audience`."""

    def __init__(self, signer: Signer, audience: str, *, lifetime: int = 120) -> None:
        self.signer = signer
        self.audience = audience
        self.lifetime = lifetime

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = sign_call_token(self.signer, self.audience, lifetime=self.lifetime)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def signed_client(signer: Signer, audience: str, *, base_url: str = "", **kwargs: Any) -> httpx.Client:
    """An httpx client whose every request proves it comes from `signer`, for `audience`."""
    return httpx.Client(base_url=base_url, auth=SignedCallAuth(signer, audience), **kwargs)
