"""`sciloop report`: a self-contained HTML summary of a run directory, built from its ledger."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from sciloop.pipeline.ledger import Ledger
from sciloop.pipeline.plots import curves_figure

COLUMNS = [("round", "round", "d"), ("oracle_calls", "oracle calls", "d"), ("new_labels", "new labels", "d"),
           ("failures", "failures", "d"), ("best", "best", ".3f"), ("top10_mean", "top-10 mean", ".3f"),
           ("diversity_top10", "diversity top-10", ".3f"), ("spearman_batch", "Spearman (new batch)", ".3f"),
           ("seconds_total", "seconds", ".0f")]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _cell(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(int(value) if spec == "d" else value, spec)


def rounds_text(rounds: list[dict]) -> str:
    """'initial screen + 4 rounds' (round 0 is the screen of the library, not a proposal round)."""
    done = [r["round"] for r in rounds if r["stage"] == "done"]
    proposed = sum(1 for r in done if r > 0)
    text = f"initial screen + {proposed} round{'s' if proposed != 1 else ''}" if 0 in done else \
        f"{proposed} round{'s' if proposed != 1 else ''}"
    unfinished = len(rounds) - len(done)
    return text + (f" ({unfinished} unfinished)" if unfinished else "")


def _domain(run_dir: Path) -> Any:
    """The run's domain, from its config.yaml (a ledger without one: molecules)."""
    from sciloop.pipeline.config import load_config
    from sciloop.pipeline.domain import MoleculeDomain
    from sciloop.pipeline.domains import make_domain

    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        return MoleculeDomain()
    return make_domain(load_config(config_path, run_dir=str(run_dir)))


def write_report(run_dir: str | Path, out: str | Path | None = None, top: int = 12) -> Path:
    """Write `report.html` (curves, per-round table, top designs) into the run directory."""
    run_dir = Path(run_dir)
    ledger = Ledger.of_run_dir(run_dir)
    rounds = ledger.rounds()
    labels = sorted(ledger.labels(), key=lambda l: -l.value)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(r['metrics'].get(k, r['round'] if k == 'round' else None), f)}</td>"
                                    for k, _, f in COLUMNS) + "</tr>" for r in rounds)
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in COLUMNS)
    draw = getattr(_domain(run_dir), "drawing", lambda design: None)  # molecules: SVG; else text
    cards = "".join(f"<figure>{draw(l.key) or ''}<figcaption>{l.value:.3f} &middot; round {l.round}<br>"
                    f"<code>{html.escape(l.key)}</code></figcaption></figure>" for l in labels[:top])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>sciloop report: {html.escape(run_dir.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
figure{{display:inline-block;margin:6px;width:230px;vertical-align:top}} figcaption{{font-size:12px;word-break:break-all}}</style></head>
<body><h1>sciloop campaign: {html.escape(run_dir.name)}</h1>
<p>{ledger.oracle_calls()} oracle calls, {len(labels)} labels, {len(ledger.failed())} failures; {rounds_text(rounds)}.</p>
<h2>Optimisation curve</h2><img alt="curves" src="data:image/png;base64,{_png(curves_figure(ledger.call_values()))}">
<h2>Rounds</h2><table><tr>{head}</tr>{rows}</table>
<h2>Top {min(top, len(labels))} designs</h2>{cards}
</body></html>"""
    path = Path(out) if out else run_dir / "report.html"
    path.write_text(page)
    return path
