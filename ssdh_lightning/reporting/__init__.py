"""``ssdh-report``: tables, the paper's layout, plots, and the comparison of rows with
confidence intervals from per-query figures. Imports no torch: it turns run folders (JSON and
numpy files) into Markdown, CSV and PNG."""
