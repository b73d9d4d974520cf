"""Pooled datasets across providers, model training (pooled and provider-local), model cards."""
