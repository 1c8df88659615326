"""A web service over an index: a query page and a JSON API (FastAPI, uvicorn).

    ssdh-serve index=outputs/digits.index            # http://127.0.0.1:8000

``create_app(served, settings)`` builds the app; ``tasks.serve(cfg)`` runs it behind ``ssdh-serve``.
"""

from ssdh_lightning.serve.app import create_app
from ssdh_lightning.serve.served import ServedIndex
from ssdh_lightning.serve.settings import ServeSettings

__all__ = ["ServeSettings", "ServedIndex", "create_app"]
