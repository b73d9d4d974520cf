"""Tables of the catalog."""
