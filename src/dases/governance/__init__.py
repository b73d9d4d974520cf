"""Governance: assemblies, proposals, votes, published results and versioned adopted rules."""
