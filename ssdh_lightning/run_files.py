"""The files a task writes into its run folder, by name: what the report and the tests read.

Imports nothing: ``ssdh-report`` reads run folders without loading torch or Lightning.
"""

METRICS_FILE = "metrics.json"  # the final metrics, keyed as metric_names spells them
RUN_FILE = "run.json"  # what a run was: data set, hash_bits, method and its changes, recipe, seed
CURVES_FILE = "curves.json"  # precision@k of each mode, BCS precision-recall
CLASS_NAMES_FILE = "class_names.json"
PER_QUERY_FILE = "per_query.npz"  # each query's AP@k and precision@k of every row (per_query.py)
