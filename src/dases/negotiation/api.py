"""HTTP routes of the Dataspace Protocol contract negotiation."""

from fastapi import APIRouter

router = APIRouter(tags=["negotiation"])
