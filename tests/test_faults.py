"""Faults a build or a training run meets: a full disk, two builds of one index at once, folders
that cannot be looked into, and Ctrl-C. Each ends in a message that says what happened and
what to do, and loses nothing already written. A real ssdh-index process where only a process
shows it (its exit code on a full disk, a lock held by another process, a signal); the builds
around them in this process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import (
    BIN,
    BUILD_LOG,
    CPU,
    assert_stopped,
    call_tool,
    index_command,
    run_tool,
    write_digits,
)
from ssdh_lightning.data import ImageFolderDataModule
from ssdh_lightning.images.folder_scan import scan
from ssdh_lightning.images.skipped import SKIPPED_FILES
from ssdh_lightning.indexing import build_index
from ssdh_lightning.indexing.lock import IndexLocked, build_lock
from ssdh_lightning.indexing.query import query_files
from ssdh_lightning.indexing.shards import work_root
from ssdh_lightning.io import atomic_write, write_text
from ssdh_lightning.retrieval import Index
from ssdh_lightning.retrieval.index_writer import IndexWriter
from ssdh_lightning.strings import PackedStrings

DISK_BYTES = 2 << 20


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A real 2 MiB file system (tmpfs), unmounted after the test."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here ({mounted.stderr.strip()})")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave: int = 0) -> None:
    """Take all but ``leave`` bytes of the file system's space."""
    (disk / "filler").write_bytes(b"\0" * (free_bytes(disk) - leave))


def hidden_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_atomic_write_on_a_full_disk_names_the_file_and_keeps_the_old_one(small_disk):
    target = small_disk / "metrics.json"
    write_text(target, "old\n")
    with pytest.raises(OSError, match=f"no space left writing {target}: .* bytes free in"):
        atomic_write(target, lambda stream: stream.write(b"x" * 2 * DISK_BYTES))
    assert target.read_text() == "old\n"
    assert hidden_files(small_disk) == []  # the temporary file is gone


def test_torch_save_on_a_full_disk_says_no_space_instead_of_unexpected_pos(small_disk):
    target = small_disk / "last.ckpt"
    big = {"weights": torch.zeros(DISK_BYTES // 2)}  # 4 MiB of float32
    with pytest.raises(OSError, match=f"no space left writing {target}") as caught:
        atomic_write(target, lambda stream: torch.save(big, stream))
    assert caught.value.errno == 28  # ENOSPC
    assert not target.exists()
    assert hidden_files(small_disk) == []


def small_index(folder: Path, count: int, feature_dim: int) -> Index:
    with IndexWriter(folder, count, 16, feature_dim) as writer:
        writer.codes[:] = 7
        writer.features[:] = 0.5
        return writer.commit(
            labels=np.zeros(count, dtype=np.int64),
            paths=PackedStrings.pack([f"{i}.png" for i in range(count)]),
            file_sizes=np.ones(count, dtype=np.int64),
            file_mtimes_ns=np.ones(count, dtype=np.int64),
            metadata={"class_names": ["0"]},
        )


def test_a_generation_too_large_for_the_disk_is_refused_before_any_write(small_disk):
    folder = small_disk / "index"
    small_index(folder, 10, 8)
    before = sorted(path.name for path in folder.iterdir())
    count, feature_dim = 4000, 512  # 4 MB of float16 features: more than the disk holds
    with pytest.raises(OSError) as caught:
        IndexWriter(folder, count, 16, feature_dim)
    message = str(caught.value)
    assert f"no space left writing generation 2 of the index {folder}" in message
    assert f"at least {count * 2 + count * feature_dim * 2} bytes needed" in message
    assert f"{free_bytes(folder)} bytes free in {folder}" in message  # once the files are gone
    assert sorted(path.name for path in folder.iterdir()) == before
    assert len(Index.load(folder, verify=True)) == 10


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits") / "images"
    write_digits(root, range(40))
    return root


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


def test_ssdh_index_on_a_full_disk_ends_with_a_message_and_keeps_the_index(
    checkpoint, small_disk, tmp_path, caplog
):
    images, out = tmp_path / "images", small_disk / "index"
    write_digits(images, range(40))
    command = index_command(checkpoint, images, out)
    call_tool("ssdh-index", *command, run_dir=tmp_path / "run")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    write_digits(images, [40])
    fill(small_disk, leave=8192)  # room for the new file's shard, not for the next generation
    result = run_tool("ssdh-index", *command, cwd=tmp_path, check=False)
    assert_stopped(result, f"no space left writing generation 2 of the index {out}")  # no SIGBUS
    assert f"bytes free in {out}" in result.stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    (small_disk / "filler").unlink()
    with caplog.at_level(logging.INFO, logger=BUILD_LOG):  # resumes from the kept shard
        call_tool("ssdh-index", *command, run_dir=tmp_path / "run")
    assert "resuming: 1 of the 1 new or changed files" in caplog.text
    assert len(Index.load(out, verify=True)) == 41


def test_a_second_build_of_an_index_fails_at_once_naming_the_first(
    checkpoint, digits_folder, tmp_path
):
    out = tmp_path / "index"
    shard = work_root(out) / "0123456789abcdef" / "shard.npz"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"what the first build encoded")
    with build_lock(work_root(out), out):
        result = run_tool(
            "ssdh-index", *index_command(checkpoint, digits_folder, out), cwd=tmp_path, check=False
        )
        with pytest.raises(IndexLocked, match=f"process {os.getpid()}"):
            build_index(checkpoint, digits_folder, out, trainer_options=CPU)
        assert_stopped(
            result, f"another build of the index {out} is running (process {os.getpid()}"
        )
        assert shard.read_bytes() == b"what the first build encoded"
        assert (work_root(out) / "lock").read_text() == f"{os.getpid()}\n"
        assert not out.exists()
    assert sorted(work_root(out).rglob("*")) == [shard.parent, shard]  # the lock file is gone
    shard.unlink()
    shard.parent.rmdir()
    with build_lock(work_root(out), out):  # free again
        pass
    assert not work_root(out).exists()  # an idle index leaves no lock behind


def looping_folder(root: Path) -> tuple[list[str], dict[str, str]]:
    """Digits under ``root`` among entries no scan can look into; returns the digits' relative
    paths and, for each bad entry, the start of the reason a scan gives."""
    good = [str(path.relative_to(root)) for path in write_digits(root, range(20))]
    (root / "3" / "loop.png").symlink_to("loop.png")  # a link to itself
    (root / "4" / "circle").symlink_to("circle")  # the same, without an image's name
    (root / "5" / "gone.png").symlink_to(root / "nowhere.png")  # a broken link
    (root / "6" / "again").symlink_to(root / "6")  # a folder link into itself: seen once
    bad = {
        "3/loop.png": "OSError: Too many levels of symbolic links (a symbolic link)",
        "4/circle": "OSError: Too many levels of symbolic links (a symbolic link)",
        "5/gone.png": "FileNotFoundError: No such file or directory (a symbolic link)",
    }
    return sorted(good), bad


def test_a_scan_skips_and_lists_link_loops_and_broken_links(tmp_path):
    root = tmp_path / "images"
    good, bad = looping_folder(root)
    manifest = scan(root)
    assert sorted(manifest.relative_path(i) for i in range(len(manifest))) == good
    assert {str(Path(path).relative_to(root)): why for path, why in manifest.skipped} == bad


def test_a_training_folder_lists_what_its_scan_skipped(tmp_path):
    root = tmp_path / "images"
    good, bad = looping_folder(root)
    module = ImageFolderDataModule(
        root=root, image_size=(8, 8), resize=(8, 8), report_dir=tmp_path / "run", seed=0
    )
    module.setup()
    splits = module.files
    used = {str(splits.train.path_of(int(i)).relative_to(root)) for i in splits.train.positions}
    used |= {str(splits.query.path_of(int(i)).relative_to(root)) for i in splits.query.positions}
    assert sorted(used) == good
    listed = (tmp_path / "run" / SKIPPED_FILES).read_text().splitlines()[1:]
    assert {str(Path(line.split("\t")[0]).relative_to(root)) for line in listed} == set(bad)


def test_ssdh_index_and_a_query_folder_list_what_the_scan_skipped(checkpoint, tmp_path, caplog):
    root = tmp_path / "images"
    good, bad = looping_folder(root)
    built = build_index(
        checkpoint,
        root,
        tmp_path / "index",
        batch_size=8,
        num_workers=0,
        trainer_options=CPU,
        report_dir=tmp_path / "run",
    )
    assert sorted(built.paths.tolist()) == good
    listed = (tmp_path / "run" / SKIPPED_FILES).read_text().splitlines()[1:]
    assert {str(Path(line.split("\t")[0]).relative_to(root)) for line in listed} == set(bad)
    assert sorted(str(path.relative_to(root)) for path in query_files(root)) == good
    assert "query " + str(root / "3" / "loop.png") + " cannot be looked into" in caplog.text


def test_ctrl_c_during_ssdh_index_says_how_to_resume_and_the_same_command_does(
    checkpoint, tmp_path, caplog
):
    images = tmp_path / "images"
    write_digits(images, range(400))
    out = tmp_path / "index"
    command = [str(BIN / "ssdh-index"), *index_command(checkpoint, images, out, "batch_size=1")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ctrl-C at a terminal: SIGINT at its default, even where pytest itself was started in the
    # background (a shell then ignores SIGINT, and the child would inherit that)
    build = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not any(work_root(out).glob("*/*.npz")) and time.monotonic() < deadline:
        time.sleep(0.01)
    build.send_signal(signal.SIGINT)
    _, stderr = build.communicate(timeout=120)
    assert build.returncode == 130, stderr
    assert f"What was encoded is kept in {work_root(out)}" in stderr
    assert "run the same command again to resume" in stderr
    assert not (out / "manifest.json").exists()
    encoded = len(list(work_root(out).glob("*/*.npz")))
    assert 0 < encoded < 400
    with caplog.at_level(logging.INFO, logger=BUILD_LOG):  # the same command, in this process
        call_tool("ssdh-index", *command[1:], run_dir=tmp_path / "outputs")
    assert f"resuming: {encoded} of the 400 new or changed files" in caplog.text
    assert len(Index.load(out, verify=True)) == 400
    assert not work_root(out).exists()
