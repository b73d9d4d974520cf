"""`dases transfer`: ask the local node for a transfer under an agreement, follow it to its end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import httpx
import typer
from rich.console import Console

from dases.errors import ConfigurationError, DasesError
from dases.settings import load_settings

console = Console()
FORMATS = {"pull": "HttpData-PULL", "push": "HttpData-PUSH"}


def transfer(
    agreement_id: Annotated[str, typer.Argument(help="The @id of a finalized agreement where the local participant is the consumer.")],
    as_participant: Annotated[str, typer.Option("--as", help="The local participant receiving the data (the consumer).")],
    how: Annotated[Literal["pull", "push"], typer.Option("--format", help="pull: the node downloads; push: the provider sends.")] = "pull",
    output: Annotated[Path | None, typer.Option(help="Copy the payload here once it has arrived and been verified.")] = None,
    node: Annotated[str | None, typer.Option(help="URL of the local node (default: DASES_PUBLIC_URL or host:port).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for COMPLETED or TERMINATED.")] = 3600.0,
) -> None:
    """Receive the data of AGREEMENT_ID through the local node (needs DASES_ADMIN_TOKEN)."""
    settings = load_settings()
    if settings.admin_token is None:
        raise ConfigurationError("set DASES_ADMIN_TOKEN to the local node's admin token")
    base = (node or settings.base_url).rstrip("/")
    headers = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        try:
            response = client.post(f"/participants/{as_participant}/transfers", json={"agreement_id": agreement_id, "format": FORMATS[how]})
        except httpx.HTTPError as error:
            raise DasesError(f"the local node at {base} cannot be reached: {type(error).__name__}") from error
        if response.status_code != 201:
            raise DasesError(f"the node refused the transfer ({response.status_code}): {response.text[:500]}")
        view = response.json()
        path = f"/participants/{as_participant}/transfers/{view['id']}"
        console.print(f"transfer {view['id']}: {view['state']}")
        state, deadline = view["state"], time.monotonic() + timeout
        while state not in ("COMPLETED", "TERMINATED") and time.monotonic() < deadline:
            time.sleep(0.2)
            view = client.get(path).json()
            if view["state"] != state:
                state = view["state"]
                console.print(f"  -> {state}")
        if state == "COMPLETED":
            console.print(f"[green]{view['payload_size']} bytes[/green], sha-256 {view['payload_sha256']} (verified)")
            if output is not None:
                with client.stream("GET", f"{path}/data") as data, output.open("wb") as out:
                    for chunk in data.iter_bytes(1024 * 1024):
                        out.write(chunk)
                console.print(f"written to {output}")
            return
    reason = view.get("termination_reason") or f"still {state} after {timeout:g} s"
    raise DasesError(f"the transfer did not complete: {reason}")
