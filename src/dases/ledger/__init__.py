"""The ledger: an append-only, hash-chained, signed record of every exchange and its usage."""
