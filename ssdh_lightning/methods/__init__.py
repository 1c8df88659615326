"""Deep hashing methods: each owns its loss and its code rule (issue 12, in progress)."""
