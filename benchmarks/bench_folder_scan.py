"""Listing a large image folder: our scan without a cache (os.scandir, one stat a file, then the
cache written), the same with the cache (read it, compare the folders' mtimes), and
torchvision's ImageFolder (os.walk, no stat, no cache), on one tree of small files.

    python benchmarks/bench_folder_scan.py                     # 100,000 files in 100 folders
    python benchmarks/bench_folder_scan.py --files 1000000 --root /tmp/tree

The tree is written once (every file the same tiny JPEG) under ``--root`` or a temporary folder.
The operating system's cache of the folders is warm for every method: each is run once to warm
it, then timed (best of ``--repeats``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sized
from pathlib import Path

import numpy as np
from torchvision.datasets import ImageFolder

from ssdh_lightning.images import folder_scan as manifests
from ssdh_lightning.testing.formats import encode_image, write_repeated_files


def best_seconds(action: Callable[[], Sized], repeats: int) -> tuple[float, int]:
    """(the best time of ``repeats`` runs after one to warm the caches, what the action found)."""
    found = len(action())
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times), found


def ensure_tree(root: Path, files: int, classes: int) -> None:
    """``files`` tiny JPEGs in ``classes`` folders under ``root``, unless already there."""
    per_class = files // classes
    last = root / f"class_{classes - 1:03d}" / f"{per_class - 1:07d}.jpg"
    if not last.is_file():
        tiny = encode_image(np.full((8, 8, 3), 128, dtype=np.uint8))
        write_repeated_files(root, tiny, classes, per_class)
        # A cache does not trust folders changed just before its scan (manifest.RACY_NS).
        time.sleep(manifests.RACY_NS / 1e9)


def run(
    files: int = 100_000, classes: int = 100, root: Path | None = None, repeats: int = 3
) -> tuple[dict[str, tuple[float, int]], int]:
    """({method: (seconds, files found)}, the cache's size in bytes) for a tree of ``files``."""
    with tempfile.TemporaryDirectory() as temporary:
        tree = Path(root) if root is not None else Path(temporary) / "tree"
        ensure_tree(tree, files, classes)
        cache = Path(temporary) / "manifest.npz"

        def cold() -> manifests.Manifest:
            found = manifests.scan(tree)
            manifests.save(found, cache)
            return found

        def cached() -> manifests.Manifest:
            found = manifests.load(cache, tree)
            if found is None:
                raise RuntimeError(f"the cache {cache} of {tree} was not reused")
            return found

        methods = {
            "scan, no cache (scandir + stat, cache written)": cold,
            "with the cache (read + folder mtimes)": cached,
            "torchvision ImageFolder": lambda: ImageFolder(str(tree)).samples,
        }
        timings = {name: best_seconds(action, repeats) for name, action in methods.items()}
        cache_bytes = cache.stat().st_size
    return timings, cache_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--root", type=Path, help="where the tree is (or is written)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    timings, cache_bytes = run(args.files, args.classes, args.root, args.repeats)
    print(f"{args.files:,} files in {args.classes} folders; manifest cache {cache_bytes:,} bytes")
    print(f"{'method':<48} {'seconds':>8} {'files/s':>12} {'found':>9}")
    for method, (seconds, found) in timings.items():
        print(f"{method:<48} {seconds:>8.3f} {found / seconds:>12,.0f} {found:>9,}")
    cold, cached, torchvision = (seconds for seconds, _ in timings.values())
    print(f"ImageFolder / with the cache: {torchvision / cached:.1f}x")
    print(f"ImageFolder / scan, no cache: {torchvision / cold:.2f}x")


if __name__ == "__main__":
    main()
