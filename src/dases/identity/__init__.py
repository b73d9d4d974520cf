"""Participants' keys, did:web documents and signed service-to-service calls."""
