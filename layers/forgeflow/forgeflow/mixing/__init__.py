"""Data mixing: plans, exact apportionment, streaming blends, provenance reports."""
