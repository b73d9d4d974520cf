"""The learning record store: xAPI 1.0.3 and 2.0 (IEEE 9274.1.1), one store per hosted participant."""
