"""ssdh-lightning: deep binary hash codes for fast image retrieval."""
