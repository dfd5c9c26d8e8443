"""Reports a person reads: ``report.json``, ``report.md``, ``difficulty.png``; and base-vs-tuned comparisons.

``report.json`` is ``{"summary": {...}, "examples": [{"id", "correct", "error", "seconds", ...}, ...]}`` with one
example entry per gold example, in gold order. ``report.md`` is the same summary as Markdown tables (overall and
by difficulty) followed by the first failures with gold SQL, predicted SQL and error. ``difficulty.png`` is a bar
chart of EX by difficulty with ``correct/scored`` on each bar.

``compare_reports(a, b)`` pairs two reports on the same gold set by example id: EX per difficulty for both and
the delta (b - a), and the examples that flipped either way (``gained``: wrong in A, right in B; ``lost``: the
reverse). ``write_compare`` writes it as ``compare.json`` / ``compare.md`` / ``compare.png`` (grouped bars).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_FAILURES = 20


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fence(text: str | None, lang: str = "sql") -> str:
    body = "(none)" if text is None else (text if text.strip() else "(empty)")
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}{lang}\n{body}\n{fence}"


# --- one report -----------------------------------------------------------------------------------------------


def render_markdown(report: dict[str, Any], *, failures: int = DEFAULT_FAILURES, title: str = "tunesql eval") -> str:
    """The report as Markdown (see the module docstring)."""
    s = report["summary"]
    cfg = s.get("config", {})
    lines = [f"# {title}", ""]
    if cfg:
        lines += [f"- gold: `{cfg.get('gold')}`", f"- predictions: `{cfg.get('pred')}`"]
    if s.get("task") == "sql2nl":
        lines += ["", "| examples | BLEU-4 | ROUGE-1 | ROUGE-2 | ROUGE-L |", "|---:|---:|---:|---:|---:|",
                  f"| {s['examples']} | {_num(s.get('bleu4'), 2)} | {_num(s.get('rouge1'))} | "
                  f"{_num(s.get('rouge2'))} | {_num(s.get('rougeL'))} |", "",
                  f"References: {s.get('reference_field', 'explanation')}. BLEU-4 is sacrebleu's (0-100), "
                  "ROUGE F-measures are rouge-score's (0-1)."]
        for w in s.get("warnings", []):
            lines.append(f"- warning: {w}")
        return "\n".join(lines) + "\n"
    if cfg:
        lines += [f"- databases: `{cfg.get('db_dir')}`",
                  f"- semantics: {cfg.get('semantics')}, DISTINCT {'kept' if cfg.get('keep_distinct') else 'stripped'}"
                  f", timeout {cfg.get('timeout')} s, {cfg.get('workers')} workers"]
    lines += ["", "| level | examples | scored | correct | EX | exact match | token F1 | exec success |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines.append(f"| **all** | {s['examples']} | {s['scored']} | {s['correct']} | **{_pct(s['ex'])}** | "
                 f"{_pct(s['exact_match'])} | {_num(s['token_f1'])} | {_pct(s['exec_success'])} |")
    for level, row in s.get("by_difficulty", {}).items():
        lines.append(f"| {_md_escape(level)} | {row['count']} | {row['scored']} | {row['correct']} | "
                     f"{_pct(row['ex'])} | {_pct(row['exact_match'])} | {_num(row['token_f1'])} | "
                     f"{_pct(row['exec_success'])} |")
    lines += ["", f"EX is over the {s['scored']} scored examples (database present, gold query ran); over all "
                  f"{s['examples']} examples, counting unscored ones as wrong, it is {_pct(s['ex_all'])}."]
    notes = []
    if s.get("database_missing"):
        by_db = ", ".join(f"{db}: {n}" for db, n in s.get("database_missing_by_db", {}).items())
        notes.append(f"database missing: {s['database_missing']} examples ({by_db}), not scored")
    for key, label in (("gold_errors", "gold query failed"), ("no_prediction", "no prediction (scored wrong)"),
                       ("timeouts", "predictions stopped by the timeout")):
        if s.get(key):
            notes.append(f"{label}: {s[key]}")
    if s.get("seconds") is not None:
        notes.append(f"scored in {s['seconds']:.2f} s ({s.get('examples_per_second')} examples/s)")
    notes += [f"warning: {w}" for w in s.get("warnings", [])]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    failed = [e for e in report["examples"] if e.get("correct") is False
              and e.get("status") not in ("database missing",)]
    if failures and failed:
        lines += ["", f"## First {min(failures, len(failed))} of {len(failed)} failures", ""]
        for e in failed[:failures]:
            lines += [f"### id {e['id']} · {e.get('db_id', '')} · {e.get('difficulty', '')} · {e.get('status')}",
                      "", "gold:", "", _fence(e.get("gold")), "", "predicted:", "", _fence(e.get("pred")), ""]
            if e.get("error"):
                lines += [f"error: `{_md_escape(e['error'])}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def save_figure(fig: Any, path: str | Path, *, dpi: float | None = None) -> Path:
    """Lay out, write (creating the folder) and close a figure: closed figures are what keep a long run's memory
    flat, so every plot goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, **({"dpi": dpi} if dpi else {}))
    pyplot().close(fig)
    return path


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_difficulty(report: dict[str, Any], path: str | Path, *,
                    title: str = "Execution accuracy by difficulty") -> Path:
    """Bar chart of EX by difficulty (plus "all"), ``correct/scored`` written on each bar."""
    plt = pyplot()
    s = report["summary"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if s.get("task") == "sql2nl":
        names = ["BLEU-4 / 100", "ROUGE-1", "ROUGE-2", "ROUGE-L"]
        values = [(s.get("bleu4") or 0) / 100, s.get("rouge1") or 0, s.get("rouge2") or 0, s.get("rougeL") or 0]
        bars = ax.bar(names, values, color="#4C72B0")
        for bar, v in zip(bars, values, strict=True):
            ax.annotate(f"{v:.3f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=9)
        ax.set_title("SQL→NL text similarity")
    else:
        levels = list(s.get("by_difficulty", {}))
        rows = [s["by_difficulty"][lvl] for lvl in levels] + [
            {"ex": s["ex"], "correct": s["correct"], "scored": s["scored"]}]
        names = [*levels, "all"]
        values = [100 * (r["ex"] or 0) for r in rows]
        colors = ["#4C72B0"] * len(levels) + ["#55A868"]
        bars = ax.bar(names, values, color=colors)
        for bar, r, v in zip(bars, rows, values, strict=True):
            ax.annotate(f"{r['correct']}/{r['scored']}", (bar.get_x() + bar.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=9)
        ax.set_ylabel("EX (%)")
        ax.set_ylim(0, 110)
        ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path)


def write_report(report: dict[str, Any], out_dir: str | Path, *, failures: int = DEFAULT_FAILURES,
                 stem: str = "report", plot: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``difficulty.png`` under ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md"}
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str) + "\n",
                             encoding="utf-8")
    paths["md"].write_text(render_markdown(report, failures=failures), encoding="utf-8")
    if plot:
        name = "difficulty.png" if stem == "report" else f"{stem}_difficulty.png"
        paths["png"] = plot_difficulty(report, out / name)
    return paths


# --- comparing two reports ------------------------------------------------------------------------------------


def compare_reports(a: dict[str, Any], b: dict[str, Any], *, label_a: str = "A", label_b: str = "B") -> dict[str, Any]:
    """Per-difficulty EX of two reports on the same gold set, the delta (B - A), and the flipped examples.

    Examples pair by id; an id in one report only is listed under ``unpaired`` and left out of the deltas.
    """
    ex_a = {e["id"]: e for e in a["examples"]}
    ex_b = {e["id"]: e for e in b["examples"]}
    common = [i for i in ex_a if i in ex_b]
    unpaired = [i for i in ex_a if i not in ex_b] + [i for i in ex_b if i not in ex_a]
    unscored = {"database missing", "gold error"}

    def row(ids: list[str]) -> dict[str, Any]:
        scored = [i for i in ids if ex_a[i].get("status") not in unscored]
        ca = sum(1 for i in scored if ex_a[i].get("correct"))
        cb = sum(1 for i in scored if ex_b[i].get("correct"))
        n = len(scored)
        ea, eb = (ca / n if n else None), (cb / n if n else None)
        return {"count": len(ids), "scored": n, "correct_a": ca, "correct_b": cb,
                "ex_a": None if ea is None else round(ea, 6), "ex_b": None if eb is None else round(eb, 6),
                "delta": None if ea is None or eb is None else round(eb - ea, 6)}

    levels: dict[str, list[str]] = {}
    for i in common:
        levels.setdefault(ex_a[i].get("difficulty", "unknown"), []).append(i)
    order = list(a["summary"].get("by_difficulty", {}))
    order += [lvl for lvl in levels if lvl not in order]

    def flip(i: str) -> dict[str, Any]:
        return {"id": i, "db_id": ex_a[i].get("db_id"), "difficulty": ex_a[i].get("difficulty"),
                "gold": ex_a[i].get("gold"), "pred_a": ex_a[i].get("pred"), "pred_b": ex_b[i].get("pred"),
                "error_a": ex_a[i].get("error"), "error_b": ex_b[i].get("error")}

    gained = [flip(i) for i in common if not ex_a[i].get("correct") and ex_b[i].get("correct")]
    lost = [flip(i) for i in common if ex_a[i].get("correct") and not ex_b[i].get("correct")]
    return {
        "label_a": label_a, "label_b": label_b,
        "pred_a": a["summary"].get("config", {}).get("pred"), "pred_b": b["summary"].get("config", {}).get("pred"),
        "overall": row(common),
        "by_difficulty": {lvl: row(levels[lvl]) for lvl in order if lvl in levels},
        "gained": gained, "lost": lost,
        "n_gained": len(gained), "n_lost": len(lost),
        "unpaired": unpaired,
    }


def render_compare_markdown(cmp: dict[str, Any], *, limit: int = DEFAULT_FAILURES) -> str:
    la, lb = cmp["label_a"], cmp["label_b"]
    lines = [f"# {la} vs {lb}", "", f"- {la}: `{cmp.get('pred_a')}`", f"- {lb}: `{cmp.get('pred_b')}`", "",
             f"| level | scored | EX {la} | EX {lb} | Δ ({lb} − {la}) |", "|---|---:|---:|---:|---:|"]

    def line(name: str, r: dict[str, Any]) -> str:
        delta = "n/a" if r["delta"] is None else f"{100 * r['delta']:+.1f} pts"
        return f"| {name} | {r['scored']} | {_pct(r['ex_a'])} | {_pct(r['ex_b'])} | {delta} |"

    lines.append(line("**all**", cmp["overall"]))
    lines += [line(_md_escape(lvl), r) for lvl, r in cmp["by_difficulty"].items()]
    lines += ["", f"Flipped: {cmp['n_gained']} gained (wrong in {la}, right in {lb}), "
                  f"{cmp['n_lost']} lost (right in {la}, wrong in {lb})."]
    if cmp.get("unpaired"):
        lines.append(f"Unpaired ids (in one report only): {len(cmp['unpaired'])}.")
    for key, heading in (("gained", f"Gained ({la} wrong → {lb} right)"), ("lost", f"Lost ({la} right → {lb} wrong)")):
        items = cmp[key]
        if not items:
            continue
        lines += ["", f"## {heading}: {len(items)}" + (f" (first {limit})" if len(items) > limit else ""), ""]
        for f in items[:limit]:
            lines += [f"### id {f['id']} · {f.get('db_id', '')} · {f.get('difficulty', '')}", "", "gold:", "",
                      _fence(f.get("gold")), "", f"{la}:", "", _fence(f.get("pred_a")), "", f"{lb}:", "",
                      _fence(f.get("pred_b")), ""]
            for side, err in ((la, f.get("error_a")), (lb, f.get("error_b"))):
                if err:
                    lines += [f"{side} error: `{_md_escape(err)}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def plot_compare(cmp: dict[str, Any], path: str | Path) -> Path:
    """Grouped bars: EX of A and B per difficulty (and overall), ``correct/scored`` on each bar."""
    plt = pyplot()
    names = [*cmp["by_difficulty"], "all"]
    rows = [*cmp["by_difficulty"].values(), cmp["overall"]]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    width = 0.38
    xs = range(len(names))
    for offset, side, color in ((-width / 2, "a", "#8C8C8C"), (width / 2, "b", "#4C72B0")):
        values = [100 * (r[f"ex_{side}"] or 0) for r in rows]
        bars = ax.bar([x + offset for x in xs], values, width, color=color, label=cmp[f"label_{side}"])
        for bar, r, v in zip(bars, rows, values, strict=True):
            ax.annotate(f"{r[f'correct_{side}']}/{r['scored']}", (bar.get_x() + bar.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("EX (%)")
    ax.set_ylim(0, 115)
    ax.set_title(f"{cmp['label_a']} vs {cmp['label_b']}: execution accuracy by difficulty")
    ax.legend(loc="upper right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path)


def write_compare(cmp: dict[str, Any], out_dir: str | Path, *, limit: int = DEFAULT_FAILURES,
                  plot: bool = True) -> dict[str, Path]:
    """Write ``compare.json``, ``compare.md`` and ``compare.png`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "compare.json", "md": out / "compare.md"}
    paths["json"].write_text(json.dumps(cmp, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    paths["md"].write_text(render_compare_markdown(cmp, limit=limit), encoding="utf-8")
    if plot:
        paths["png"] = plot_compare(cmp, out / "compare.png")
    return paths
