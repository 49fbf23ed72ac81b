from sciloop.pipeline.cli import main
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
    assert "3 oracle calls, 2 labels, 1 failures, 1 rounds" in page
    assert page.index("c1ccccc1O") < page.index("<code>CCO</code>")  # best design first
    assert "<td>0.750</td>" in page and "data:image/png;base64," in page and "<svg" in page
    assert "src=\"http" not in page and "<link" not in page and "<script" not in page  # self-contained
