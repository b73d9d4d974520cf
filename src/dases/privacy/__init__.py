"""Privacy tools: the operator's keyed pseudonymisation service, k-anonymity / l-diversity /
t-closeness with least-loss generalisation, and differentially private aggregates under a
budget per dataset and consumer (see docs/privacy.md)."""
