"""Indexes at scale: a synthetic index of a million items, and an index of real image files.

    python benchmarks/bench_index.py synthetic          # 1,000,000 items, 128 bits, 512 features
    python benchmarks/bench_index.py synthetic --items 100000 --feature-dim 4096
    python benchmarks/bench_index.py folder             # 2,000 JPEGs, a 10-epoch digits model
    python benchmarks/bench_index.py digits FOLDER      # only write the digits as image files

``synthetic`` writes the index once to --work (codes clustered by class like trained ones; float16
features of --feature-dim values, 512 by default to keep the disk use near 1 GB, where AlexNet's
4,096 would take 8 GB) and reuses it on later runs. It times ``Index.load`` (the file cache is
warm: the index was just written or read), the search of one query at a time, and reports the
resident memory the process gained since before the load, next to the size of the codes.

``folder`` writes --images small JPEGs of the digits (upscaled, with noise) to --work, trains a
digits checkpoint for --epochs unless --ckpt is given, builds the index with ssdh-index's
``build_index`` (times: the whole build, and a second run that finds it up to date) and
searches it with images of the folder, one query at a time, in the three modes.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import shutil
import time
from pathlib import Path

import numpy as np

from ssdh_lightning.indexing import build_index, encode_queries, query_model
from ssdh_lightning.retrieval import Index, PackedCodes, pack_codes, search
from ssdh_lightning.retrieval.index import existing_index
from ssdh_lightning.testing.formats import (
    digit_images,
    digit_multi_hot,
    encode_image,
    write_list_file,
)
from ssdh_lightning.testing.measure import print_table, timed
from ssdh_lightning.testing.runs import digits_checkpoint
from ssdh_lightning.testing.synthetic import write_synthetic_index

WORK = Path(__file__).resolve().parents[1] / "outputs" / "benchmarks"
CPU = {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False}


def _synthetic_index(work: Path, items: int, bits: int, feature_dim: int, seed: int) -> Path:
    folder = work / f"synthetic-{items}x{bits}b-{feature_dim}f-seed{seed}"
    try:
        ready = existing_index(folder) is not None
    except (OSError, ValueError):  # a damaged copy: write it again
        shutil.rmtree(folder)
        ready = False
    if not ready:
        print(f"writing the synthetic index {folder} (once) ...", flush=True)
        write_synthetic_index(folder, items, bits, feature_dim, seed)
    return folder


def _queries(folder: Path, count: int, seed: int) -> tuple[PackedCodes, np.ndarray]:
    """Copies of ``count`` items of the index, drawn at random (from a copy of the index that is
    closed again, so their pages are not counted against the index measured after)."""
    index = Index.load(folder)
    picks = np.random.default_rng(seed + 1).integers(0, len(index), count)
    return index.codes[picks], np.asarray(index.features[picks], dtype=np.float32)


def _load_engine(bits: int, feature_dim: int) -> None:
    """Run every mode once on a tiny problem, so that the engine's compiled kernels and thread
    pools are loaded before memory is measured: what the index adds is then what is left."""
    codes = pack_codes(np.zeros((16, bits), dtype=bool))
    features = np.zeros((16, feature_dim), dtype=np.float16)
    for mode in ("bcs", "es", "hds"):
        search(codes[:1], codes, 1, mode, query_features=features[:1], database_features=features)


def resident_mb() -> dict[str, float]:
    """This process's resident memory (Linux): ``anon_mb`` it holds itself, ``file_mb`` pages
    of memory-mapped files, which the kernel may drop at any time and reread."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) / 1024
    return {"anon_mb": fields["RssAnon"], "file_mb": fields["RssFile"]}


def _per_call_ms(function, calls: int) -> dict[str, float]:
    """Mean and median milliseconds of ``function(0) .. function(calls - 1)``; the median is
    the steadier figure on a machine that other work shares."""
    times = []
    for call in range(calls):
        started = time.perf_counter()
        function(call)
        times.append((time.perf_counter() - started) * 1e3)
    return {"ms": float(np.mean(times)), "median_ms": float(np.median(times))}


def run_synthetic(
    work: Path, items: int, bits: int, feature_dim: int, queries: int, seed: int = 0
) -> list[dict]:
    folder = _synthetic_index(work, items, bits, feature_dim, seed)
    query_codes, query_features = _queries(folder, queries, seed)
    _load_engine(bits, feature_dim)
    gc.collect()
    before = resident_mb()
    rows = []

    def row(step: str, times: dict[str, float], note: str = "") -> None:
        gained = {name: mb - before[name] for name, mb in resident_mb().items()}
        rows.append({"step": step, **times, **gained, "note": note})

    load_seconds, index = timed(lambda: Index.load(folder))
    row("Index.load", {"ms": load_seconds * 1e3}, "maps every array; sha256 of all but features")

    def one(mode: str, **options):
        return lambda a: index.search(
            query_codes[a : a + 1],
            10,
            mode,
            query_features=query_features[a : a + 1],
            **options,
        )

    first_seconds, _ = timed(lambda: one("bcs")(0))
    row("BCS top 10, first query", {"ms": first_seconds * 1e3}, "lays the codes out by column")
    row("BCS top 10, one query", _per_call_ms(one("bcs"), queries), f"{queries} queries")
    batch_seconds, _ = timed(lambda: index.search(query_codes, 10, "bcs"))
    per_query = {"ms": batch_seconds * 1e3 / queries}
    row(f"BCS top 10, {queries} queries in one call", per_query, "per query")
    if importlib.util.find_spec("faiss") is not None:
        faiss = one("bcs", backend="faiss")
        faiss(0)  # FAISS copies the codes into its index on the first search
        row("BCS top 10, one query, FAISS", _per_call_ms(faiss, queries), "IndexBinaryFlat")
    hds_calls = max(1, queries // 10)
    hds = _per_call_ms(one("hds"), hds_calls)
    row("HDS top 10, one query", hds, f"{hds_calls} queries; pool: the 1000 nearest codes")
    es_calls = max(1, queries // 100)
    row("ES top 10, one query", _per_call_ms(one("es"), es_calls), f"{es_calls} queries")
    verify_seconds, _ = timed(lambda: Index.load(folder, verify=True))
    row("Index.load(verify=True)", {"ms": verify_seconds * 1e3}, "sha256 of the features too")
    return rows


def write_digits(folder: Path, count: int, size: int, extension: str) -> list[Path]:
    """The digits as image files ``folder/<digit>/<number><extension>``."""
    images, labels = digit_images(count, size)
    paths = []
    for number, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = folder / str(label) / f"{number:05d}{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(image, extension))
        paths.append(path)
    return paths


def run_folder(
    work: Path,
    images: int,
    ckpt: Path | None,
    epochs: int,
    num_workers: int,
    batch_size: int,
    queries: int,
) -> list[dict]:
    folder = work / f"digits-{images}-jpeg"
    if not folder.is_dir():
        write_digits(folder, images, size=32, extension=".jpg")
    checkpoint = ckpt or digits_checkpoint(work, epochs)
    out = work / f"digits-{images}.index"
    shutil.rmtree(out, ignore_errors=True)
    options = {"batch_size": batch_size, "num_workers": num_workers, "trainer_options": CPU}
    build_seconds, index = timed(lambda: build_index(checkpoint, folder, out, **options))
    again_seconds, _ = timed(lambda: build_index(checkpoint, folder, out, **options))
    rows = [
        {"step": "build", "ms": build_seconds * 1e3, "images_per_s": len(index) / build_seconds},
        {"step": "build again, up to date", "ms": again_seconds * 1e3},
    ]
    paths = sorted(folder.rglob("*.jpg"))[:: max(1, images // queries)][:queries]
    encoded = encode_queries(query_model(index), paths)
    query_labels = np.array([index.class_names.index(path.parent.name) for path in paths])
    rows.append({"step": "encode a query", "ms": encoded.seconds * 1e3 / len(paths)})
    for mode in ("bcs", "es", "hds"):

        def one(a: int, mode=mode):
            return index.search(
                encoded.codes[a : a + 1],
                10,
                mode,
                query_features=encoded.features[a : a + 1],
            )

        one(0)
        found = np.stack([one(a).positions[0] for a in range(len(paths))])
        same_class = index.labels[found] == query_labels[:, None]
        rows.append(
            {
                "step": f"{mode.upper()} top 10, one query",
                **_per_call_ms(one, len(paths)),
                "precision@10": float(same_class.mean()),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    synthetic = commands.add_parser("synthetic", help="a synthetic index of a million items")
    synthetic.add_argument("--items", type=int, default=1_000_000)
    synthetic.add_argument("--bits", type=int, default=128)
    synthetic.add_argument("--feature-dim", type=int, default=512)
    synthetic.add_argument("--queries", type=int, default=200, help="single queries, averaged")
    synthetic.add_argument("--work", type=Path, default=WORK)
    folder = commands.add_parser("folder", help="an index of image files")
    folder.add_argument("--images", type=int, default=2000)
    folder.add_argument("--ckpt", type=Path, default=None)
    folder.add_argument("--epochs", type=int, default=10, help="of the digits checkpoint")
    folder.add_argument("--num-workers", type=int, default=2)
    folder.add_argument("--batch-size", type=int, default=256)
    folder.add_argument("--queries", type=int, default=50)
    folder.add_argument("--work", type=Path, default=WORK)
    digits = commands.add_parser("digits", help="write the digits as image files")
    digits.add_argument("folder", type=Path)
    digits.add_argument("--count", type=int, default=1797)
    digits.add_argument("--size", type=int, default=8, help="pixels")
    digits.add_argument("--extension", default=".png")
    digits.add_argument(
        "--multi-hot-list",
        metavar="NAME",
        help="also write FOLDER/NAME, a list file of every image with three multi-hot classes "
        "(d < 5, d even, d divisible by 3), for ssdh-index list_file=NAME",
    )
    args = parser.parse_args()
    if args.command == "digits":
        written = write_digits(args.folder, args.count, args.size, args.extension)
        print(f"wrote {len(written)} images under {args.folder}")
        if args.multi_hot_list:
            names = [path.relative_to(args.folder).as_posix() for path in written]
            digits = [int(path.parent.name) for path in written]
            listed = write_list_file(
                args.folder / args.multi_hot_list, names, digit_multi_hot(digits)
            )
            print(f"wrote {listed}, which lists them with multi-hot labels of 3 classes")
        return
    if args.command == "synthetic":
        rows = run_synthetic(args.work, args.items, args.bits, args.feature_dim, args.queries)
        codes_mb = args.items * ((args.bits + 7) // 8) / 2**20
        print(
            f"{args.items} items, {args.bits}-bit codes ({codes_mb:.1f} MB), "
            f"{args.feature_dim} float16 features; anon_mb, file_mb: resident memory gained since "
            "before the load, held by the process and mapped from the index's files"
        )
        print_table(rows, ["step", "ms", "median_ms", "anon_mb", "file_mb", "note"])
        return
    rows = run_folder(
        args.work,
        args.images,
        args.ckpt,
        args.epochs,
        args.num_workers,
        args.batch_size,
        args.queries,
    )
    print(f"{args.images} JPEG files of 32x32 digits, {args.num_workers} loader workers, CPU")
    print_table(rows, ["step", "ms", "median_ms", "images_per_s", "precision@10"])


if __name__ == "__main__":
    main()
