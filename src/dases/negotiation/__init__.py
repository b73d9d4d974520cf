"""Dataspace Protocol contract negotiation, provider and consumer side; agreements signed by both."""
