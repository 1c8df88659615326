"""The project's tasks: plain functions over a composed config. The commands in ``cli/`` only
compose the config and call one of them; Python callers call them the same way. ``serve``
(tasks/serve.py) is imported on its own: it needs the web server's packages."""

from ssdh_lightning.tasks.evaluate import evaluate
from ssdh_lightning.tasks.index import index
from ssdh_lightning.tasks.search import search
from ssdh_lightning.tasks.train import objective, train

__all__ = ["evaluate", "index", "objective", "search", "train"]
