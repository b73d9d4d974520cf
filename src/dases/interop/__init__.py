"""Converters of native logs to xAPI (DASES profiles) and skills mapping to ESCO."""
