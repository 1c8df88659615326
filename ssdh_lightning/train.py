"""``python -m ssdh_lightning.train``: the same entry point as ``ssdh-train``."""

from ssdh_lightning.cli.train import main

if __name__ == "__main__":
    main()
