"""What several test files share: the commands as processes and in this process, the command
blocks of the README and docs/, digit images on disk, small indexes written directly, a real
ssdh-serve process and the app in this process, the browser's view of the page, and the
benchmark scripts loaded as modules. Fixtures live in
conftest.py; everything else shared lives here."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from sklearn.datasets import load_digits

from ssdh_lightning.cli import CONFIG_DIR
from ssdh_lightning.indexing import build_index
from ssdh_lightning.io import file_sha256
from ssdh_lightning.methods import LatentBatch
from ssdh_lightning.per_query import read_per_query, write_per_query
from ssdh_lightning.retrieval import Index, IndexWriter, PackedCodes, pack_codes
from ssdh_lightning.retrieval.index import MANIFEST_FILE
from ssdh_lightning.run_files import METRICS_FILE, PER_QUERY_FILE, RUN_FILE
from ssdh_lightning.strings import PackedStrings
from ssdh_lightning.testing.formats import encode_image

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
BIN = Path(sys.executable).parent
# A tiny but real training run: 2 epochs of the default config.
TINY_TRAINING = ["trainer.max_epochs=2", "trainer.enable_progress_bar=false"]
CPU = {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False}
BUILD_LOG = "ssdh_lightning.indexing.build"
DIGITS = load_digits()
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


# --- the installed commands ----------------------------------------------------------------------


def run_tool(
    tool: str, *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run an installed console script (``ssdh-train``, ...), with ``env`` added to this
    process's environment, and capture its output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    result = subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        command = " ".join((tool, *args))
        raise AssertionError(
            f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


# What a Hydra command prints last when its task raised an exception
HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


def assert_stopped(result: subprocess.CompletedProcess, error: str) -> None:
    """A command stopped by a bad input: exit code 1, and stderr ending with the exception's line
    (``error``, e.g. ``ValueError: seed=foo: ...``, in it) and Hydra's hint below it."""
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == HYDRA_HINT, result.stderr
    assert error in lines[-2], result.stderr


# The commands run in this process: their config file, and the module of their entry point.
COMMANDS = {
    "ssdh-train": ("train", "train"),
    "ssdh-eval": ("eval", "evaluate"),
    "ssdh-index": ("index", "index"),
    "ssdh-search": ("search", "search"),
}


def compose_config(name: str, *overrides: str, return_hydra_config: bool = False) -> DictConfig:
    """conf/NAME.yaml composed with ``overrides``, as the command line composes it."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def call_tool(tool: str, *overrides: str, run_dir: Path | None = None):
    """The command ``tool`` (``ssdh-train``, ...) in this process: its config composed from
    ``overrides``, then its entry point's function, which returns what the task returns. A bad
    input raises the exception whose message the command prints; ``run_dir`` stands for
    ``hydra.run.dir`` (the search writes no run folder). Only what a process alone proves (its
    exit code, its stderr, a signal) needs ``run_tool``."""
    config, module = COMMANDS[tool]
    run_folder = [f"output_dir={run_dir}"] if run_dir is not None else []
    cfg = compose_config(config, *overrides, *run_folder)
    return importlib.import_module(f"ssdh_lightning.cli.{module}").main(cfg)


def report_in_process(*argv) -> int:
    """ssdh-report's own main(), in this process (capsys reads its output): its exit code."""
    from ssdh_lightning.cli.report import main

    try:
        main([str(arg) for arg in argv])
    except SystemExit as stop:
        return stop.code
    return 0


def index_command(checkpoint: Path, images: Path, out: Path, *options: str) -> list[str]:
    """The arguments of a quiet ``ssdh-index`` on the CPU."""
    return [
        f"ckpt_path={checkpoint}",
        f"images={images}",
        f"out={out}",
        "num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        *options,
    ]


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module, to call its functions at small sizes."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up by name
    spec.loader.exec_module(module)
    return module


# --- the command blocks of README.md and docs/ -------------------------------------------------

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Every bash block follows a marker: <!-- NAME: RUNNER HOW -->, RUNNER the file that runs it, HOW
# one of the ways below, "after the NAME block" where it needs that block's outputs, and
# "(pytest -m slow)" where it takes long.
MARKED_BLOCK = re.compile(
    r"(?:<!-- (?P<name>\w+): (?P<runner>\S+) (?P<how>[^>]*?) -->\n)?```bash\n(?P<body>.*?)```", re.S
)
WAYS = {
    "runs these commands as written": "as_written",
    "starts this server as written": "server",
    "composes these commands' configs": "compose",
    "runs this command": "ci",
}


@dataclass(frozen=True)
class CommandBlock:
    """A bash block of a page and what its marker says of it."""

    page: Path
    name: str | None
    runner: str | None
    how: str
    commands: tuple[str, ...]

    @property
    def way(self) -> str | None:
        return next((way for words, way in WAYS.items() if self.how.startswith(words)), None)

    @property
    def after(self) -> str | None:
        found = re.search(r"after the (\w+) block", self.how)
        return found and found.group(1)

    @property
    def slow(self) -> bool:
        return "(pytest -m slow)" in self.how

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}: {self.name or self.commands[0]}"


def command_blocks() -> list[CommandBlock]:
    """Every bash block of README.md and docs/*.md, in page order."""
    blocks = []
    for page in PAGES:
        for found in MARKED_BLOCK.finditer(page.read_text(encoding="utf-8")):
            lines = [line.strip() for line in found["body"].splitlines() if line.strip()]
            blocks.append(
                CommandBlock(page, found["name"], found["runner"], found["how"] or "", tuple(lines))
            )
    return blocks


def marked_commands(name: str) -> list[str]:
    """The commands of the block marked ``name``; a block on several pages is the same on each."""
    copies = {block.commands for block in command_blocks() if block.name == name}
    assert copies, f"no page has a block marked {name}"
    assert len(copies) == 1, f"the pages' copies of the {name} block differ: {copies}"
    return list(copies.pop())


def run_as_written(commands: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Each command in a shell, in the environment that pip installed into; the last result.

    Each shell leads its own process group, killed whole when the test stops early (a timeout, an
    interrupt): killing the shell alone would leave its training running, orphaned."""
    for command in commands:
        with subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)},
            start_new_session=True,
        ) as shell:
            try:
                stdout, stderr = shell.communicate(timeout=900)
            except BaseException:
                os.killpg(shell.pid, signal.SIGKILL)
                raise
        result = subprocess.CompletedProcess(command, shell.returncode, stdout, stderr)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


# --- images and indexes ----------------------------------------------------------------------


def write_digits(root: Path, numbers) -> list[Path]:
    """Digits ``numbers`` of scikit-learn's set as PNG files ``root/<digit>/<number>.png``."""
    paths = []
    for number in numbers:
        image = np.round(DIGITS.images[number] * 255 / 16).astype(np.uint8)
        path = root / str(DIGITS.target[number]) / f"{number:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(image, ".png"))
        paths.append(path)
    return paths


def build(checkpoint: Path, images: Path, out: Path, **options) -> Index:
    """``build_index`` in this process, on the CPU, in small batches."""
    options = {"batch_size": 16, "num_workers": 0, "trainer_options": CPU, **options}
    return build_index(checkpoint, images, out, **options)


RANDOM_BITS, RANDOM_DIM = 48, 16


def write_random_index(folder, count: int, seed: int = 0, metadata: dict | None = None) -> Index:
    """An index of ``count`` uniformly random 48-bit codes and 16-d features, three classes."""
    rng = np.random.default_rng(seed)
    with IndexWriter(folder, count, RANDOM_BITS, RANDOM_DIM) as writer:
        writer.codes[:] = pack_codes(rng.random((count, RANDOM_BITS)) < 0.5).bytes
        writer.features[:] = rng.random((count, RANDOM_DIM))
        return writer.commit(
            labels=np.arange(count) % 3,
            paths=PackedStrings.pack([f"class_{i % 3}/image_{i}.jpg" for i in range(count)]),
            file_sizes=np.full(count, 1000),
            file_mtimes_ns=np.arange(count),
            metadata=metadata or {"class_names": ["class_0", "class_1", "class_2"]},
        )


CLUSTERED_BITS, CLUSTERED_DIM, CLUSTERED_CLASSES = 48, 8, 6


def clustered_bits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes near their class's centre (6% of bits flipped), as a trained model's are."""
    rng = np.random.default_rng(seed)
    centres = rng.random((CLUSTERED_CLASSES, CLUSTERED_BITS)) < 0.5
    labels = rng.integers(0, CLUSTERED_CLASSES, count)
    return centres[labels] ^ (rng.random((count, CLUSTERED_BITS)) < 0.06), labels


def write_clustered_index(folder, count: int = 400, seed: int = 0, ids=None) -> Index:
    """An index of ``count`` 48-bit codes clustered by class (``clustered_bits``), 6 classes."""
    bits, labels = clustered_bits(count, seed)
    rng = np.random.default_rng(seed + 1)
    with IndexWriter(folder, count, CLUSTERED_BITS, CLUSTERED_DIM) as writer:
        writer.codes[:] = np.packbits(bits, axis=1)
        writer.features[:] = rng.random((count, CLUSTERED_DIM))
        return writer.commit(
            labels=labels,
            paths=PackedStrings.pack([f"c{label}/{i}.png" for i, label in enumerate(labels)]),
            file_sizes=np.full(count, 100),
            file_mtimes_ns=np.arange(count),
            metadata={"class_names": [f"c{c}" for c in range(CLUSTERED_CLASSES)]},
            ids=ids,
        )


def array_file(index: Index, name: str) -> Path:
    """The file of the index's array ``name`` in its current generation."""
    return index.folder / index.manifest["arrays"][name]["file"]


def rewrite_array(index: Index, name: str, array: np.ndarray) -> None:
    """Replace one of the index's arrays and keep the manifest consistent with it (its shape and
    sha256), so that only the rule under test can refuse it."""
    path = array_file(index, name)
    np.save(path, array)
    manifest = json.loads((index.folder / MANIFEST_FILE).read_text())
    manifest["arrays"][name].update(shape=list(array.shape), sha256=file_sha256(path))
    (index.folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def rewrite_paths(index: Index, paths: list[str]) -> None:
    """Give the index's items the relative ``paths``, consistently with its manifest."""
    packed = PackedStrings.pack(paths)
    rewrite_array(index, "paths_buffer", packed.buffer)
    rewrite_array(index, "paths_offsets", packed.offsets)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels but holds one row: a decompression bomb's
    header, refused before anything is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# --- Hamming rankings by their definition -----------------------------------------------------


def hamming(query: PackedCodes, database: PackedCodes) -> np.ndarray:
    """Hamming distances by the definition: the bits that differ."""
    a = np.unpackbits(np.asarray(query.bytes), axis=1)[:, None, :]
    b = np.unpackbits(np.asarray(database.bytes), axis=1)[None, :, :]
    return (a != b).sum(axis=2)


def reference_bcs(index: Index, query_bits: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """Hamming ranking by the definition: count differing bits, ties to the lower position."""
    bits = np.unpackbits(np.asarray(index.codes.bytes), axis=1)[:, : index.hash_bits]
    distances = (bits != query_bits).sum(axis=1)
    order = np.lexsort((np.arange(len(distances)), distances))[:k]
    return order.tolist(), distances[order].tolist()


# --- a real ssdh-serve ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``ssdh-serve index=FOLDER`` through its console script, until ``close``."""

    def __init__(self, index: Path, workdir: Path, *overrides: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.out"
        command = [str(BIN / "ssdh-serve"), f"index={index}", f"port={self.port}"]
        command += [f"hydra.run.dir={workdir / 'run'}", "settings.reload_interval_s=0.2"]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [*command, *overrides], cwd=workdir, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_up()

    def _wait_until_up(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"ssdh-serve exited ({self.process.returncode}):\n{self.log}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.close()
        raise AssertionError(f"ssdh-serve did not answer within {timeout_s} s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def app_client(
    index: Path, *, ckpt_path: Path | None = None, images: Path | None = None, **settings
) -> Iterator:
    """The app of ``ssdh-serve index=INDEX`` in this process, through FastAPI's TestClient: the
    same routes, checks and answers as a real server, with no process start and no port. Use a
    real ``Server`` only where only a process proves it (a crash, a hang, the browser)."""
    from fastapi.testclient import TestClient

    from ssdh_lightning.serve import ServeSettings
    from ssdh_lightning.serve.app import create_app
    from ssdh_lightning.serve.served import ServedIndex

    served = ServedIndex.open(index, ckpt_path=ckpt_path, images=images)
    app = create_app(served, ServeSettings(**{"reload_interval_s": 0.2, **settings}))
    with TestClient(app) as client:  # runs the app's lifespan: its watcher of new generations
        yield client


def upload(client: httpx.Client, path: Path, name: str | None = None, **params) -> httpx.Response:
    """POST the image at ``path`` to the search of ``client``'s server (an ``app_client``, or an
    ``httpx.Client`` of a real server's url), as the page does."""
    files = {"image": (name or path.name, path.read_bytes(), "image/png")}
    return client.post("/api/search", params=params, files=files)


def columns(driver) -> dict[str, list[dict]]:
    """Each result column's figures on the page, in order: whether it is the query, its path
    and caption."""
    from selenium.webdriver.common.by import By

    shown = {}
    for column in driver.find_elements(By.CSS_SELECTOR, "#results section"):
        shown[column.get_attribute("data-mode")] = [
            {
                "query": figure.get_attribute("data-query") == "true",
                "path": figure.get_attribute("data-path"),
                "caption": figure.text,
            }
            for figure in column.find_elements(By.TAG_NAME, "figure")
        ]
    return shown


# --- run folders written directly ----------------------------------------------------------------


def write_run(
    folder: Path,
    *,
    data: str = "digits",
    hash_bits: int = 48,
    seed: int = 0,
    method: str = "lin2015",
    per_query: dict[str, np.ndarray] | None = None,
    query_ids=None,
    metrics: dict[str, float] | None = None,
    seconds_per_epoch: float | None = None,
    recipe: str | None = None,
    method_changes: dict | None = None,
    method_options: dict | None = None,
    setting: dict | None = None,
) -> Path:
    """A run folder as ssdh-train leaves it, written directly: run.json, metrics.json (``metrics``
    and the mean of each per-query figure) and, given ``per_query`` (key -> one value per query),
    per_query.npz with ``query_ids`` (default 0, 1, ...). ``recipe`` None: a run.json written
    before runs recorded it; ``method_changes``, ``method_options`` None: likewise; ``setting``:
    run.json's protocol, backbone or experiment (none given: a run.json from before runs recorded
    them)."""
    folder.mkdir(parents=True, exist_ok=True)
    means = {}
    if per_query:
        count = len(next(iter(per_query.values())))
        ids = np.arange(count) if query_ids is None else query_ids
        stored = read_per_query(write_per_query(folder / PER_QUERY_FILE, ids, per_query))
        means = {key: float(np.mean(v, dtype=np.float64)) for key, v in stored.figures.items()}
    description = {"data": data, "hash_bits": hash_bits, "seed": seed, "method": method}
    if seconds_per_epoch is not None:
        description["seconds_per_epoch"] = seconds_per_epoch
    if recipe is not None:
        description["recipe"] = recipe
    if method_changes is not None:
        description["method_changes"] = method_changes
    if method_options is not None:
        description["method_options"] = method_options
    description |= setting or {}
    (folder / RUN_FILE).write_text(json.dumps(description))
    (folder / METRICS_FILE).write_text(json.dumps(means | (metrics or {})))
    return folder


# --- one fixed batch for the methods' losses ----------------------------------------------------

# 4 items, 4 bits, 3 classes; a latent value of exactly 0 (a tie for every code rule), and
# multi-hot rows that share labels unevenly (label cosines 1/sqrt(2), 1/2, 0 and 1).
METHOD_LATENT = [
    [0.5, -1.2, 3.0, 0.2],
    [-0.3, 0.8, 2.0, -1.0],
    [1.5, 1.5, -0.7, 0.9],
    [0.0, -0.4, 0.3, -2.0],
]
METHOD_SINGLE = [0, 2, 1, 0]
METHOD_MULTI = [[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]]
CLASSIFIER_WEIGHTS = [[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, 0.0, 0.2], [0.1, 0.1, -0.3, -0.5]]
CLASSIFIER_BIAS = [0.05, -0.1, 0.2]


def latent_batch(latent, labels) -> LatentBatch:
    """What the module gives a method's loss: the latent layer and labels (features zero)."""
    latent = torch.as_tensor(latent, dtype=torch.float32)
    labels = torch.as_tensor(labels)
    return LatentBatch(latent, labels, torch.zeros(len(latent), 5), torch.arange(len(latent)))


def fixed_classifier() -> torch.nn.Linear:
    """The head's classifier (4 bits to 3 classes) with CLASSIFIER_WEIGHTS and CLASSIFIER_BIAS."""
    classifier = torch.nn.Linear(4, 3)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor(CLASSIFIER_WEIGHTS))
        classifier.bias.copy_(torch.tensor(CLASSIFIER_BIAS))
    return classifier
