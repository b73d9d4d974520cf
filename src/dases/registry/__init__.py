"""Member registry: organisations of the data space and the credentials issued to them."""
