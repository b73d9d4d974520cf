"""Tables of the negotiation building block."""
