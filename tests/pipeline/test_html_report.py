from sciloop.pipeline.cli import main
from sciloop.pipeline.html_report import rounds_text
from sciloop.pipeline.ledger import DesignRow, Ledger


def test_report_is_self_contained_html(tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(s, s, "library") for s in ("CCO", "c1ccccc1O", "CCN")])
    ledger.mark_submitted(["CCO", "c1ccccc1O", "CCN"])
    ledger.record_result("CCO", 0.25, None, "n")
    ledger.record_result("c1ccccc1O", 0.75, None, "n")
    ledger.record_result("CCN", None, "timeout", "n")
    ledger.finish_round(0, {"oracle_calls": 3, "best": 0.75, "top10_mean": 0.5, "new_labels": 2})
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert capsys.readouterr().out.strip().endswith("report.html")
    assert "3 oracle calls, 2 labels, 1 failures; initial screen + 0 rounds" in page
    assert page.index("c1ccccc1O") < page.index("<code>CCO</code>")  # best design first
    assert "<td>0.750</td>" in page and "data:image/png;base64," in page and "<svg" in page
    assert "src=\"http" not in page and "<link" not in page and "<script" not in page  # self-contained
    ledger.record_result("CCN", 0.5, None, "label")  # `sciloop label` corrects the failure
    assert main(["report", str(tmp_path)]) == 0
    assert "3 oracle calls, 3 labels, 0 failures" in (tmp_path / "report.html").read_text()  # counted once


def test_round_zero_is_the_initial_screen():
    done = [{"round": r, "stage": "done"} for r in range(5)]
    assert rounds_text(done) == "initial screen + 4 rounds"  # a 4-round config
    assert rounds_text(done[:2] + [{"round": 2, "stage": "trained"}]) == "initial screen + 1 round (1 unfinished)"


def test_best_prints_the_top_designs_from_the_ledger(tmp_path, capsys):
    run_dir = tmp_path / "run"  # the table's title names the run directory
    run_dir.mkdir()
    ledger = Ledger(run_dir / "ledger.sqlite")
    ledger.start_round(0)
    designs = ["CCO", "c1ccccc1O", "CCN", "CCCl"]
    ledger.add_designs(0, [DesignRow(s, s, "library") for s in designs])
    ledger.mark_submitted(designs)
    for s, v in zip(designs, (0.25, 0.75, 0.5, None)):
        ledger.record_result(s, v, None if v is not None else "timeout", "n")
    ledger.close()
    assert main(["best", str(run_dir), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "run: best 2 of 3 labelled designs" in out
    assert out.index("c1ccccc1O") < out.index("CCN")
    rows = [line for line in out.splitlines() if "0.750" in line or "0.500" in line]
    assert len(rows) == 2 and "0.250" not in out
    assert main(["best", str(run_dir)]) == 0
    assert "run: best 3 of 3 labelled designs" in capsys.readouterr().out  # not "best 10 of 3"


def test_best_prints_bracket_atoms_as_they_are(tmp_path, capsys):
    """Regression: rich read [nH] and [n+] as style tags and dropped them: pyrrole printed as c1ccc1."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    designs = ["c1cc[nH]c1", "C[n+]1ccccc1"]
    ledger.add_designs(0, [DesignRow(s, s, "library") for s in designs])
    ledger.mark_submitted(designs)
    for s in designs:
        ledger.record_result(s, 0.5, None, "n")
    assert main(["best", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "c1cc[nH]c1" in out and "C[n+]1ccccc1" in out


def test_a_sequence_report_shows_sequences_as_text(tmp_path):
    (tmp_path / "config.yaml").write_text("domain: {name: sequence, alphabet: ACDE, length: 4}\n"
                                          "oracle: {target: token_count}\n")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    designs = ["ACDE", "EEEE", "CADA"]
    ledger.add_designs(0, [DesignRow(s, s, "random") for s in designs])
    ledger.mark_submitted(designs)
    for s, v in zip(designs, (0.5, 1.0, 0.25)):
        ledger.record_result(s, v, None, "n")
    ledger.finish_round(0, {"oracle_calls": 3, "best": 1.0, "top10_mean": 0.58, "new_labels": 3})
    ledger.close()
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "<svg" not in page and page.index("<code>EEEE</code>") < page.index("<code>ACDE</code>")
