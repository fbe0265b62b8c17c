"""`pik demo`'s hint: "try in another terminal" only while the stack keeps running (with the lab)."""

from __future__ import annotations

from pathlib import Path

from pik_cli.demo import try_this
from pik_local.story import generate


def test_the_hint_to_try_commands_is_given_only_when_the_stack_keeps_running():
    truth = generate(200, seed=7).truth
    with_lab = try_this(truth, Path(".pik/demo.env"), lab=True)
    assert "in another terminal while this runs" in with_lab and " status" in with_lab
    without = try_this(truth, Path(".pik/demo.env"), lab=False)
    assert "another terminal" not in without and " status" not in without
    assert without.splitlines()[1].startswith("This run stops its stack when the report is written (--no-lab).")
    assert "demo` without --no-lab" in without and "local up` keeps an empty stack" in without


def test_the_commands_to_try_name_the_info_file_when_the_demo_wrote_it_elsewhere(tmp_path, monkeypatch):
    """``pik demo --info-file X``: the printed commands reach that stack (they read .pik/local.json by default)."""
    monkeypatch.delenv("PIK_LOCAL_FILE", raising=False)
    truth = generate(200, seed=7).truth
    elsewhere = try_this(truth, tmp_path / "demo.env", info_file=tmp_path / "local.json")
    commands = [line.strip() for line in elsewhere.splitlines() if line.startswith("  ")]
    assert len(commands) == 4 and all(c.endswith(f" --local-file {tmp_path / 'local.json'}") for c in commands)
    monkeypatch.chdir(tmp_path)
    default = try_this(truth, Path(".pik/demo.env"), info_file=Path(".pik/local.json"))
    assert "--local-file" not in default
    monkeypatch.setenv("PIK_LOCAL_FILE", str(tmp_path / "local.json"))  # what the commands read by default then
    assert "--local-file" not in try_this(truth, tmp_path / "demo.env", info_file=tmp_path / "local.json")
