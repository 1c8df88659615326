"""Folders from elsewhere and folders that cannot be written: symbolic links out of an images
folder are neither indexed nor trained on but listed with the reason, a report's file names
stay inside its folder, and an output folder that cannot be written is named with what to set."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import build, compose_config, run_tool, write_digits
from ssdh_lightning.cli.report import main as report_main
from ssdh_lightning.data import ImageFolderDataModule
from ssdh_lightning.images.folder_scan import scan
from ssdh_lightning.images.skipped import SKIPPED_FILES
from ssdh_lightning.reporting.files import MAX_NAME, safe_file_name
from ssdh_lightning.reporting.report import write_report
from ssdh_lightning.run_files import CURVES_FILE, METRICS_FILE, RUN_FILE
from ssdh_lightning.tasks import index, train


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


# --- symbolic links out of the images folder ------------------------------------------------


def linked_folder(tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    """An images folder of 20 digits with a file link and a folder link that lead out of it, and
    a link that stays inside; returns the folder, the relative paths a scan takes, and the
    reason given for each entry left out."""
    root, elsewhere = tmp_path / "images", tmp_path / "elsewhere"
    kept = [str(path.relative_to(root)) for path in write_digits(root, range(20))]
    secrets = write_digits(elsewhere, range(20, 24))  # two class folders, 2 and 3
    (root / "0" / "link_out.png").symlink_to(secrets[0])
    (root / "linked").symlink_to(elsewhere / "2")
    (root / "1" / "alias.png").symlink_to(root / "0" / "0000.png")  # inside: taken
    kept.append("1/alias.png")
    out = "outside the images folder {root}: not read"
    left_out = {
        "0/link_out.png": f"a symbolic link to {secrets[0]}, {out}",
        "linked": f"a symbolic link to {elsewhere / '2'}, {out}",
    }
    return root, sorted(kept), {k: v.format(root=root) for k, v in left_out.items()}


def relative_skipped(lines: list[tuple[str, str]], root: Path) -> dict[str, str]:
    return {str(Path(path).relative_to(root)): reason for path, reason in lines}


def skipped_files(run_dir: Path) -> list[tuple[str, str]]:
    lines = (run_dir / SKIPPED_FILES).read_text().splitlines()[1:]
    return [tuple(line.split("\t")) for line in lines]


def test_a_scan_leaves_out_links_that_lead_out_of_the_folder(tmp_path):
    root, kept, left_out = linked_folder(tmp_path)
    manifest = scan(root)
    assert sorted(manifest.relative_path(i) for i in range(len(manifest))) == kept
    assert relative_skipped(manifest.skipped, root) == left_out


def test_ssdh_index_neither_encodes_nor_names_files_out_of_its_folder(checkpoint, tmp_path):
    root, kept, left_out = linked_folder(tmp_path)
    index = build(checkpoint, root, tmp_path / "index", report_dir=tmp_path / "run")
    assert sorted(index.paths.tolist()) == kept
    assert relative_skipped(skipped_files(tmp_path / "run"), root) == left_out


def test_training_on_a_folder_leaves_out_files_out_of_it(tmp_path):
    root, kept, left_out = linked_folder(tmp_path)
    module = ImageFolderDataModule(
        root=root, image_size=(8, 8), resize=(8, 8), report_dir=tmp_path / "run", seed=0
    )
    module.setup()
    used = {
        str(split.path_of(int(i)).relative_to(root))
        for split in (module.files.train, module.files.query)
        for i in split.positions
    }
    assert sorted(used) == kept
    assert relative_skipped(skipped_files(tmp_path / "run"), root) == left_out


# --- a report's file names --------------------------------------------------------------------


def write_run(folder: Path, data: str, seed: int = 0) -> None:
    """A run folder as ssdh-train leaves it, reduced to what the report reads."""
    folder.mkdir(parents=True)
    (folder / RUN_FILE).write_text(json.dumps({"data": data, "hash_bits": 16, "seed": seed}))
    (folder / METRICS_FILE).write_text(json.dumps({"bcs/map@all": 0.5, "es/map@all": 0.4}))
    curves = {
        "precision_at_k": {"bcs": [1.0, 0.5], "es": [1.0, 0.75]},
        "bcs_pr": {"precision": [1.0, 0.5], "recall": [0.1, 1.0]},
    }
    (folder / CURVES_FILE).write_text(json.dumps(curves))


def test_a_data_set_name_never_leads_a_plot_out_of_the_report_folder(tmp_path):
    # The case: the plot's name joined to the folder climbed out of it.
    root = tmp_path / "sweep"
    victim = tmp_path / "victim_plot.png"
    victim.write_bytes(b"kept")
    write_run(root / "0", "../../../victim_plot")
    (root / "precision_at_k_..").mkdir()  # a folder the crafted path climbs through to tmp_path
    written = write_report(root)[0]
    assert victim.read_bytes() == b"kept"
    assert all(path.parent == root for path in written)
    assert root / f"precision_at_k_{safe_file_name('../../../victim_plot')}.png" in written
    plots = sorted(path.name for path in root.iterdir() if path.suffix == ".png")
    assert plots == [
        "compare__.._.._victim_plot-f9a149ca.png",
        "precision_at_k__.._.._victim_plot-f9a149ca.png",
        "precision_recall__.._.._victim_plot-f9a149ca.png",
    ]


def test_file_names_from_names_in_files_are_plain_and_distinct():
    assert safe_file_name("cifar10") == "cifar10"
    names = ["a/b", "a_b", "a\\b", "..", ".", "/etc/passwd", "x" * 300, "d\x00e", "é"]
    made = [safe_file_name(name) for name in names]
    assert len(set(made)) == len(made)
    for made_name in made:
        assert "/" not in made_name and "\\" not in made_name and "\x00" not in made_name
        assert made_name and not made_name.startswith(".")
        assert len(made_name) <= MAX_NAME + 9


# --- an output folder that cannot be written -----------------------------------------------


@pytest.fixture
def read_only(tmp_path) -> Iterator[Callable[[Path], str]]:
    """Makes a folder one in which nothing can be created, and returns the reason a write then
    gets: read-only for a user, immutable (chattr +i) for root, whom permissions do not stop."""
    made: list[Path] = []
    as_root = os.geteuid() == 0

    def make(folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        if not as_root:
            folder.chmod(0o555)
            made.append(folder)
            return os.strerror(errno.EACCES)
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", folder], check=False).returncode:
            pytest.skip("root without chattr +i here: no folder can be made read-only")
        made.append(folder)
        return os.strerror(errno.EPERM)

    yield make
    for folder in made:
        if as_root:
            subprocess.run(["chattr", "-i", folder], check=True)
        else:
            folder.chmod(0o755)


def test_training_into_a_folder_it_cannot_write_says_what_to_set(read_only, tmp_path):
    folder = tmp_path / "out"
    reason = read_only(folder)
    with pytest.raises(PermissionError) as error:
        train(compose_config("train", f"output_dir={folder / 'run'}"))
    assert str(error.value) == (
        f"cannot write the run folder {folder / 'run'} (it would be made in {folder}): "
        f"{reason}; set hydra.run.dir=FOLDER (output_dir=FOLDER from Python) to a folder you "
        "can write"
    )


def test_ssdh_train_stops_before_hydra_creates_a_folder_it_cannot_write(read_only, tmp_path):
    # Hydra makes the run folder before the task runs: only a real process shows what it says
    folder = tmp_path / "out"
    read_only(folder)
    result = run_tool("ssdh-train", f"hydra.run.dir={folder / 'run'}", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"cannot write the run folder {folder / 'run'} (it would")
    assert "set hydra.run.dir=FOLDER" in result.stderr and "Traceback" not in result.stderr


def test_ssdh_index_into_a_folder_it_cannot_write_says_what_to_set(read_only, tmp_path):
    folder = tmp_path / "out"
    reason = read_only(folder)
    write_digits(tmp_path / "images", range(4))
    images, out = f"images={tmp_path / 'images'}", f"out={folder / 'index'}"
    with pytest.raises(PermissionError) as error:
        index(compose_config("index", "ckpt_path=x.ckpt", images, out))
    assert str(error.value) == (
        f"cannot write the folder that holds the index and its .work folder {folder}: "
        f"{reason}; set out=FOLDER to a folder you can write"
    )


def test_ssdh_report_of_a_folder_it_cannot_write_says_so(read_only, tmp_path, capsys):
    folder = tmp_path / "sweep"
    write_run(folder / "0", "digits")
    reason = read_only(folder)
    with pytest.raises(SystemExit) as exit_code:
        report_main([str(folder)])
    assert exit_code.value.code == 2
    assert capsys.readouterr().err == (
        f"ssdh-report: cannot write the report folder {folder}: {reason}; ssdh-report writes "
        "into the folder it reads: make it writable, or copy the run folders to one you can "
        "write and report there\n"
    )
