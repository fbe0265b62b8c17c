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
