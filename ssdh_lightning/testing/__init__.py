"""What the tests, the benchmarks and the notebooks share: writers of small data sets in each
real on-disk format (``formats``), synthetic retrieval problems shaped like trained codes
(``synthetic``), and timing and peak-memory measurement (``measure``). Part of the package, so
that every caller imports it the same way, from any folder."""
