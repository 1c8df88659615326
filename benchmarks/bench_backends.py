"""FAISS's sub-linear binary indexes against the exact scan, at 10 and 100 million codes.

    python benchmarks/bench_backends.py --items 10000000 --bits 48 128
    python benchmarks/bench_backends.py --items 100000000 --bits 128 --backends multihash ivf

Synthetic codes as near to each other as a trained model's: the default digits model (trained
once for --epochs into outputs/benchmarks/, or --ckpt) encodes scikit-learn's 1,797 digits; each
class's centre is the majority vote of its codes. Measured there: every code's distance to its
class centre (a fraction of the bits), and the mean distances of pairs of one class and of
different classes. The synthetic database has --classes centres, drawn around one random code;
each item is a centre with its bits flipped with a rate drawn from the measured item-to-centre
fractions (so the within-class spread has the model's shape, not one rate), scaled so that pairs
of one class are as far apart as the model's, and the centres as far apart as makes pairs of
different classes as far as the model's.
Both distributions, measured and drawn, are printed. The codes go to a memory-mapped file in
--work, chunk by chunk, and are reused by later runs.

Printed for each backend: build time, memory it added, ms per query (one query at a time, and
1,000 at once), and recall@100 against the exact scan: the share of the 100 it returns whose
distance is at most the exact 100th distance (ties are interchangeable, so this does not depend
on tie order). The exact scan's single query is also set against one pass over the same bytes
on every thread (torch's sum of the code words: the memory-bandwidth floor of any scan).
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from ssdh_lightning.checkpoints import load_module
from ssdh_lightning.retrieval import PackedCodes, search
from ssdh_lightning.retrieval.backends import SearchParameters
from ssdh_lightning.retrieval.backends.faiss_binary import (
    FaissBackend,
    IVFBackend,
    IVFSettings,
    MultiHashBackend,
    MultiHashSettings,
    flat_backend,
    ivf_index,
    multihash_index,
)
from ssdh_lightning.testing.measure import PeakMemory, print_table, resident_bytes, timed
from ssdh_lightning.testing.runs import digits_checkpoint

WORK = Path(__file__).resolve().parents[1] / "outputs" / "benchmarks"

CHUNK = 1 << 20
K = 100


def trained_codes(checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """(1797, hash_bits) bool codes of every digit, and their labels."""
    import torch

    digits = load_digits()
    images = torch.from_numpy(np.round(digits.images * 255 / 16).astype(np.uint8))[:, None]
    module = load_module(checkpoint).eval()
    with torch.no_grad():
        codes = module.encode(images).codes.numpy()
    return codes.astype(bool), digits.target


def code_statistics(codes: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Fractions of bits: each code to its class's majority centre, and centre to centre."""
    classes = np.unique(labels)
    centres = np.stack([codes[labels == c].mean(axis=0) > 0.5 for c in classes])
    to_centre = (codes != centres[np.searchsorted(classes, labels)]).mean(axis=1)
    pairs = np.triu_indices(len(classes), 1)
    between = (centres[pairs[0]] != centres[pairs[1]]).mean(axis=1)
    return {"to_centre": to_centre, "between_centres": between}


def pair_distances(codes: np.ndarray, labels: np.ndarray, rng) -> dict[str, float]:
    """Mean Hamming fraction of 20,000 random pairs of one class and of different classes."""
    a, b = rng.integers(0, len(codes), (2, 20_000))
    same = labels[a] == labels[b]
    fraction = (codes[a] != codes[b]).mean(axis=1)
    return {
        "within": float(fraction[same & (a != b)].mean()),
        "between": float(fraction[~same].mean()),
    }


def draw_codes(rng, count: int, bits: int, centres: np.ndarray, flips: np.ndarray):
    """(count, bits) bool codes around ``centres``; labels; per-item flip rates from ``flips``."""
    labels = rng.integers(0, len(centres), count)
    rate = rng.choice(flips, count)[:, None]
    noise = rng.integers(0, 1 << 16, (count, bits), dtype=np.uint16) < (rate * (1 << 16))
    return centres[labels] ^ noise, labels


def matched_flips(to_centre: np.ndarray, within: float) -> np.ndarray:
    """The item-to-centre rates scaled by s so that two items of a class, flipped
    independently, differ in ``within`` of their bits: E[p1 + p2 - 2 p1 p2] = 2 s m - 2 s^2 m^2
    for rates of mean m. (The model's deviations share bits, so unscaled rates would spread
    its classes wider than they are.)"""
    mean = float(to_centre.mean())
    scale = (1 - np.sqrt(max(1 - 2 * within, 0))) / (2 * mean)
    return np.clip(to_centre * scale, 0, 0.5)


def draw_centres(rng, classes: int, bits: int, pairs: dict[str, float]) -> np.ndarray:
    """Centres around one random code, as far apart as makes pairs of different classes as far
    as the trained ones: an item pair differs in a bit when the centres do xor the two items'
    flips do (share ``within``), so centres differ in c = (between - within) / (1 - 2 within);
    flipping each bit of the base code with q gives 2q(1 - q) = c."""
    within = pairs["within"]
    centre = max(pairs["between"] - within, 0) / (1 - 2 * within)
    q = (1 - np.sqrt(max(1 - 2 * centre, 0))) / 2
    base = rng.random(bits) < 0.5
    return base ^ (rng.random((classes, bits)) < q)


def synthetic_database(path: Path, count: int, bits: int, centres, flips, seed: int) -> np.ndarray:
    if path.is_file():
        return np.load(path, mmap_mode="r")
    rng = np.random.default_rng(seed)
    temporary = path.with_suffix(".partial.npy")
    array = np.lib.format.open_memmap(temporary, "w+", np.uint8, (count, (bits + 7) // 8))
    for start in range(0, count, CHUNK):
        rows = min(CHUNK, count - start)
        array[start : start + rows] = np.packbits(draw_codes(rng, rows, bits, centres, flips)[0], 1)
    array.flush()
    del array
    temporary.rename(path)
    return np.load(path, mmap_mode="r")


def recall_at(found: np.ndarray, exact_kth: np.ndarray, found_distances: np.ndarray) -> float:
    """Share of the returned K whose true distance is at most the exact K-th distance."""
    good = (found >= 0) & (found_distances <= exact_kth[:, None])
    return float(good.sum() / found.size)


def per_query_ms(function, queries: PackedCodes, count: int) -> float:
    times = []
    for a in range(count):
        start = time.perf_counter()
        function(queries[a : a + 1])
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def bandwidth_pass_ms(columns: np.ndarray) -> float:
    """One pass over the scanned bytes on every thread: torch's sum of the code words (best of
    5; faster here than numpy's one-thread reductions and than a numba loop over the words)."""
    import torch

    words = torch.from_numpy(columns.view(np.int64))
    seconds, _ = timed(words.sum, repeat=5)
    return seconds * 1e3


def norouzi_tables(bits: int, count: int) -> int:
    """Multi-index hashing's table count by Norouzi et al.'s rule: substrings of about
    log2(count) bits, so that a bucket holds about one code of uniform data."""
    return max(1, round(bits / np.log2(count)))


def build(name: str, codes: PackedCodes, args) -> FaissBackend:
    if name == "faiss":
        return flat_backend(codes)
    if name == "multihash":
        tables = args.tables or norouzi_tables(codes.hash_bits, len(codes))
        settings = MultiHashSettings(tables=tables, nflip=args.nflip[0])
        return MultiHashBackend(multihash_index(codes, settings), codes)
    nlist = args.nlist or int(4 * np.sqrt(len(codes)))
    settings = IVFSettings(nlist=nlist, nprobe=args.nprobe[0], train_size=args.train_size)
    ivf, quantizer = ivf_index(codes, settings)
    backend = IVFBackend(ivf, codes)
    backend.quantizer = quantizer  # the index needs it alive
    return backend


def run(args, bits: int, statistics: dict[str, np.ndarray], pairs: dict[str, float]) -> list[dict]:
    rng = np.random.default_rng(args.seed + bits)
    centres = draw_centres(rng, args.classes, bits, pairs)
    flips = matched_flips(statistics["to_centre"], pairs["within"])
    path = args.work / f"backends_{args.items}x{bits}_seed{args.seed}.npy"
    started = time.perf_counter()
    database = PackedCodes(
        synthetic_database(path, args.items, bits, centres, flips, args.seed), bits
    )
    print(f"{args.items} x {bits} bits in {path} ({time.perf_counter() - started:.0f} s)")
    query_bits, _ = draw_codes(
        np.random.default_rng(args.seed + 1), args.queries, bits, centres, flips
    )
    queries = PackedCodes(np.packbits(query_bits, axis=1), bits)
    sample_bits, sample_labels = draw_codes(rng, 5000, bits, centres, flips)
    print(f"  drawn pairs (fraction of bits): {pair_distances(sample_bits, sample_labels, rng)}")

    rows = []
    before = resident_bytes()
    started = time.perf_counter()
    with PeakMemory() as memory:
        columns = database.columns  # the exact scan's layout, made once per database
    layout_s = time.perf_counter() - started
    exact = lambda q: search(q, database, K, "bcs")  # noqa: E731
    exact(queries[:1])  # compiles and loads the kernels
    one_ms = per_query_ms(exact, queries, args.single)
    batch_s, truth = timed(lambda: exact(queries), repeat=1)
    floor_ms = bandwidth_pass_ms(columns)
    kth = truth.distances[:, -1]
    rows.append(
        {
            "backend": "engine (exact)",
            "build_s": layout_s,
            "memory_mb": (resident_bytes() - before) / 1e6,
            "ms_one": one_ms,
            "ms_batch": batch_s * 1e3 / len(queries),
            "recall@100": 1.0,
            "speedup_one": 1.0,
            "note": f"one pass {floor_ms:.3g} ms: scan/pass {one_ms / floor_ms:.2f}x "
            f"(+{memory.extra_mib:.0f} MiB layout)",
        }
    )
    for name in args.backends:
        gc.collect()
        before = resident_bytes()
        started = time.perf_counter()
        with PeakMemory() as memory:
            backend = build(name, database, args)
        build_s = time.perf_counter() - started
        added = (resident_bytes() - before) / 1e6
        print(f"  {name}: built in {build_s:.0f} s, +{added:.0f} MB", flush=True)
        for option in options(name, args):
            parameters = SearchParameters(**option)
            backend.top_k(queries[:1], K, parameters)  # a new setting's index is made once
            search_with = functools.partial(backend.top_k, k=K, parameters=parameters)
            one = per_query_ms(search_with, queries, args.single)
            seconds, found = timed(lambda s=search_with: s(queries), repeat=1)
            recall = recall_at(found.positions, kth, found.distances)  # FAISS's distances are exact
            rows.append(
                {
                    "backend": " ".join(
                        [name, *(f"{key}={value}" for key, value in option.items())]
                    ),
                    "build_s": build_s,
                    "memory_mb": added,
                    "ms_one": one,
                    "ms_batch": seconds * 1e3 / len(queries),
                    "recall@100": recall,
                    "speedup_one": one_ms / one,
                    "note": f"peak +{memory.extra_mib:.0f} MiB",
                }
            )
        del backend
    return rows


def options(name: str, args) -> list[dict]:
    """The search settings each backend is timed with: every nflip, every nprobe."""
    if name == "multihash":
        return [{"nflip": value} for value in args.nflip]
    if name == "ivf":
        return [{"nprobe": value} for value in args.nprobe]
    return [{}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--bits", type=int, nargs="+", default=[48, 128])
    parser.add_argument("--backends", nargs="*", default=["faiss", "multihash", "ivf"])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=20, help="queries timed one at a time")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--tables", type=int, default=None, help="multihash; bits / log2(items)")
    parser.add_argument("--nflip", type=int, nargs="+", default=[1, 2], help="multihash")
    parser.add_argument("--nlist", type=int, default=None, help="ivf; 4 * sqrt(items)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 64], help="ivf")
    parser.add_argument("--train-size", type=int, default=None, help="ivf; 64 * nlist")
    parser.add_argument("--ckpt", type=Path, default=None, help="default: train digits once")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    codes, labels = trained_codes(args.ckpt or digits_checkpoint(args.work, args.epochs))
    statistics = code_statistics(codes, labels)
    pairs = pair_distances(codes, labels, np.random.default_rng(args.seed))
    print(
        f"trained codes ({codes.shape[1]} bits, {len(codes)} digits), fractions of bits: "
        f"{pairs}; to the class centre: mean "
        f"{statistics['to_centre'].mean():.3f}, quartiles "
        f"{np.percentile(statistics['to_centre'], [25, 50, 75]).round(3).tolist()}; between "
        f"centres: mean {statistics['between_centres'].mean():.3f}"
    )
    columns = ["backend", "build_s", "memory_mb", "ms_one", "ms_batch", "recall@100"]
    for bits in args.bits:
        rows = run(args, bits, statistics, pairs)
        print_table(rows, [*columns, "speedup_one", "note"])


if __name__ == "__main__":
    main()
