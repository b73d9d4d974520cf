"""`dases negotiate`: ask the local node to negotiate an offer, and follow it to its end."""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import typer
from rich.console import Console

from dases.errors import ConfigurationError, DasesError
from dases.settings import load_settings

console = Console()


def negotiate(
    offer_id: Annotated[str, typer.Argument(help="The offer's @id in the provider's catalog.")],
    provider: Annotated[str, typer.Option("--provider", help="The provider's DSP endpoint, http(s)://HOST/participants/SLUG/dsp.")],
    as_participant: Annotated[str, typer.Option("--as", help="The local participant negotiating (the consumer).")],
    node: Annotated[str | None, typer.Option(help="URL of the local node (default: DASES_PUBLIC_URL or host:port).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for FINALIZED or TERMINATED.")] = 60.0,
) -> None:
    """Negotiate OFFER_ID with a provider through the local node (needs DASES_ADMIN_TOKEN)."""
    settings = load_settings()
    if settings.admin_token is None:
        raise ConfigurationError("set DASES_ADMIN_TOKEN to the local node's admin token")
    base = (node or settings.base_url).rstrip("/")
    headers = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        try:
            response = client.post(f"/participants/{as_participant}/negotiations", json={"provider_url": provider, "offer_id": offer_id})
        except httpx.HTTPError as error:
            raise DasesError(f"the local node at {base} cannot be reached: {type(error).__name__}") from error
        if response.status_code != 201:
            raise DasesError(f"the node refused the negotiation ({response.status_code}): {response.text[:500]}")
        negotiation = response.json()
        console.print(f"negotiation {negotiation['id']}: {negotiation['state']}")
        deadline = time.monotonic() + timeout
        state = negotiation["state"]
        while state not in ("FINALIZED", "TERMINATED") and time.monotonic() < deadline:
            time.sleep(0.2)
            negotiation = client.get(f"/participants/{as_participant}/negotiations/{negotiation['id']}").json()
            if negotiation["state"] != state:
                state = negotiation["state"]
                console.print(f"  -> {state}")
    if state == "FINALIZED":
        console.print(f"[green]agreement {negotiation['agreement']['@id']}[/green] on {negotiation['agreement']['target']}")
        return
    reason = negotiation.get("termination_reason") or f"still {state} after {timeout:g} s"
    raise DasesError(f"the negotiation did not finalise: {reason}")
