"""ssdh-serve under load: N concurrent clients for T seconds against a real server over a
synthetic index of a million items, searching by codes (BCS) and by uploaded image.

    python benchmarks/bench_serve.py --ckpt CHECKPOINT          # 1,000,000 items, 8 clients
    python benchmarks/bench_serve.py --ckpt CHECKPOINT --items 100000 --clients 4 --seconds 5
    python benchmarks/bench_serve.py --ckpt CHECKPOINT --kinds codes -- settings.max_k=50

The index is bench_index.py's synthetic generator at the checkpoint's code length and feature
width, with a manifest that names the checkpoint, so the server encodes uploads with it (written
once to --work). Clients are asyncio tasks of one process, each sending its next request when
its last is answered. Reported per kind: answers a second, p50 / p95 / p99 latency, failures,
the CPU time an answer costs the server and the clients (on a shared machine, a steadier figure
than the rate); the server's resident memory (held, and mapped from the index's files); the
model's own images a second, encoding one image at a time in this process, for the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from ssdh_lightning.checkpoints import load_module
from ssdh_lightning.indexing.checkpoint import model_identity
from ssdh_lightning.indexing.encoding import encode_files
from ssdh_lightning.io import file_sha256, read_json, write_json
from ssdh_lightning.retrieval import Index
from ssdh_lightning.retrieval.index import existing_index
from ssdh_lightning.testing.formats import digit_images
from ssdh_lightning.testing.measure import print_table
from ssdh_lightning.testing.synthetic import write_synthetic_index

WORK = Path(__file__).resolve().parents[1] / "outputs" / "benchmarks"

BIN = Path(sys.executable).parent
KINDS = ("codes", "image-bcs", "image-hds")


def synthetic_index(work: Path, items: int, ckpt: Path) -> Path:
    """A synthetic index whose manifest names ``ckpt`` as its model."""
    model = load_module(ckpt)
    bits, feature_dim = model.hash_bits, model.backbone.feature_dim
    folder = work / f"serve-synthetic-{items}x{bits}b-{feature_dim}f"
    if existing_index(folder) is None:
        print(f"writing the synthetic index {folder} (once) ...", flush=True)
        write_synthetic_index(folder, items, bits, feature_dim, seed=0)
    manifest = read_json(folder / "manifest.json")
    manifest["model"] = model_identity(ckpt, model.hparams, file_sha256(ckpt))
    manifest["preprocessing"] = model.preprocessing.as_dict()
    write_json(folder / "manifest.json", manifest)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query_pngs(count: int) -> list[bytes]:
    images, _ = digit_images(count, size=8)
    streams = []
    for pixels in images:
        stream = io.BytesIO()
        Image.fromarray(pixels).save(stream, format="PNG")
        streams.append(stream.getvalue())
    return streams


def server_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    pids = [pid]
    for parent in pids:
        for task in Path(f"/proc/{parent}/task").iterdir():
            pids += [int(child) for child in (task / "children").read_text().split()]
    return pids


def resident_mb(pid: int) -> dict[str, float]:
    """Memory held (summed over the server's processes) and mapped from files (the largest
    process's: the index's pages are shared by all through the page cache)."""
    held, mapped = 0.0, 0.0
    for process in server_pids(pid):
        fields = {}
        with open(f"/proc/{process}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("RssAnon", "RssFile"):
                    fields[name] = int(value.split()[0]) / 1024
        held += fields["RssAnon"]
        mapped = max(mapped, fields["RssFile"])
    return {"anon_mb": held, "file_mb": mapped}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the server's processes so far."""
    ticks = 0
    for process in server_pids(pid):
        with open(f"/proc/{process}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def load(url: str, clients: int, seconds: float, request) -> dict[str, float]:
    """``clients`` tasks sending ``request(client, n)`` for ``seconds``; latency percentiles."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal failures
        sent = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            answer = await request(http, number * 100_003 + sent)
            latencies.append(time.perf_counter() - started)
            failures += answer.status_code != 200
            sent += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(c, http) for c in range(clients)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1e3
    return {
        "answers": len(ms),
        "per_s": len(ms) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "failures": failures,
    }


def model_images_per_s(ckpt: Path, pngs: list[bytes], work: Path) -> float:
    model = load_module(ckpt)
    paths = []
    for a, data in enumerate(pngs[:50]):
        path = work / "serve-queries" / f"{a:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    encode_files(model, paths[:1], batch_size=1)
    started = time.perf_counter()
    for path in paths:
        encode_files(model, [path], batch_size=1)
    return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="a digits checkpoint")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="the searches to load"
    )
    parser.add_argument(
        "overrides", nargs="*", help="ssdh-serve overrides, e.g. settings.backend=ivf"
    )
    args = parser.parse_args()
    folder = synthetic_index(args.work, args.items, args.ckpt)
    index = Index.load(folder)
    rng = np.random.default_rng(1)
    code_rows = [index.codes.bytes[i].tobytes().hex() for i in rng.integers(0, len(index), 1000)]
    pngs = query_pngs(200)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "ssdh-serve"), f"index={folder}", f"port={port}"]
    command += [f"hydra.run.dir={args.work / 'serve-run'}", *args.overrides]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                httpx.get(f"{url}/api/health", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    raise SystemExit(f"ssdh-serve exited ({server.returncode})") from None
                time.sleep(0.5)
        idle = resident_mb(server.pid)

        def codes(http, n):
            body = {"codes": [code_rows[n % len(code_rows)]]}
            return http.post("/api/search/codes", params={"k": 10}, json=body)

        def images(mode):
            def send(http, n):
                files = {"image": ("q.png", pngs[n % len(pngs)], "image/png")}
                return http.post("/api/search", params={"k": 10, "mode": mode}, files=files)

            return send

        requests = {"codes": ("codes, BCS", codes)}
        requests |= {"image-bcs": ("image, BCS", images("bcs"))}
        requests |= {"image-hds": ("image, HDS", images("hds"))}
        rows = []
        for kind, request in (requests[name] for name in args.kinds):
            server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
            figures = asyncio.run(load(url, args.clients, args.seconds, request))
            answers = figures["answers"]
            figures["server_cpu_ms"] = (cpu_seconds(server.pid) - server_cpu) / answers * 1e3
            figures["client_cpu_ms"] = (time.process_time() - client_cpu) / answers * 1e3
            rows.append({"search": kind, **figures, **resident_mb(server.pid)})
    finally:
        server.terminate()
        server.wait()
    model_rate = model_images_per_s(args.ckpt, pngs, args.work)
    for row in rows:
        if row["search"].startswith("image"):
            row["of_model"] = row["per_s"] / model_rate
    print(
        f"{len(index)} items, {index.hash_bits}-bit codes, {index.feature_dim} features; "
        f"{args.clients} clients for {args.seconds:g} s each; server idle: "
        f"{idle['anon_mb']:.0f} MB held, {idle['file_mb']:.0f} MB mapped; the model alone "
        f"encodes {model_rate:.0f} images/s one at a time"
    )
    print_table(
        rows,
        [
            "search",
            "per_s",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "failures",
            "server_cpu_ms",
            "client_cpu_ms",
            "anon_mb",
            "file_mb",
            "of_model",
        ],
    )


if __name__ == "__main__":
    main()
