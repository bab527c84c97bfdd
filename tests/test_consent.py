"""The responsible-use notice gates the CLI's swapping commands until it is accepted, once."""

from __future__ import annotations

from app import consent
from app.cli.main import main


def test_swapping_commands_need_the_notice_accepted(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("SWAPCAST_ACCEPT_NOTICE")
    code = main(["swap", "-s", str(tmp_path / "me.png"), "-t", str(tmp_path / "t.png"), "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "Use SwapCast responsibly" in err and "swapcast notice --accept" in err
    assert not consent.accepted()
    # Accepted once, it is not asked again: the command now gets as far as checking its files.
    assert main(["notice", "--accept"]) == 0 and consent.accepted()
    capsys.readouterr()
    code = main(["swap", "-s", str(tmp_path / "me.png"), "-t", str(tmp_path / "t.png"), "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "me.png" in err and "responsibly" not in err


def test_automation_can_accept_up_front(monkeypatch) -> None:
    monkeypatch.setenv("SWAPCAST_ACCEPT_NOTICE", "1")
    assert consent.ensure_accepted_on_cli() and consent.accepted()


def test_reading_commands_need_no_notice(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SWAPCAST_ACCEPT_NOTICE")
    assert main(["jobs", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
