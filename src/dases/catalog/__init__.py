"""Offerings (DCAT datasets, data services, software services), search, DSP catalog, DCAT-AP export."""
