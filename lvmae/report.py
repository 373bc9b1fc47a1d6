"""Table files and the report: a table's cells (already collected by its kind, ablations/kinds/)
-> results/tables/<id>.{md,csv,json} and .tex (its tables in LaTeX: lvmae.latex; figures:
results/figures/); every table -> results/REPORT.md.
Also the shared pieces of a grid's page: its cells' mean ± std (grid_table, mean_std), its
markdown (grid_markdown) and the paper's numbers (read_paper).

Our numbers come only from run directories (each table's .json lists them); the paper's reported
numbers come only from results/paper/<id>.csv and are shown in their own columns.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lvmae import latex
from lvmae.atomic import write_atomic


def read_paper(path: Path) -> pd.DataFrame | None:
  """The paper's numbers: columns row, column, value (blank where unknown)."""
  if not Path(path).exists():
    return None
  return pd.read_csv(path, dtype={"row": str, "column": str}, keep_default_na=True)


def mean_std(mean: float, std: float, n: int) -> str:
  """A cell as shown: "20.0 ± 6.5" over several runs, "20.0" for one, "-" for none, n/a without a value."""
  if n == 0:
    return "-"
  if np.isnan(mean):
    return "n/a"
  return f"{mean:.1f} ± {std:.1f}" if n > 1 else f"{mean:.1f}"


def grid_table(records: Sequence[dict], rows: Sequence[str], columns: Sequence[str],
               paper: pd.DataFrame | None) -> pd.DataFrame:
  """records: {row, column, seed, value} (values as shown, already scaled). Returns one line per
  row: ours (mean, std, n) and paper.

  A NaN value (a metric the run does not have) makes its cell's mean NaN, shown as n/a.
  """
  df = pd.DataFrame(list(records), columns=["row", "column", "seed", "value"])
  out = []
  for row in rows:
    line = {"row": row}
    for column in columns:
      values = df[(df.row == row) & (df.column == column)].value.astype(float).to_numpy()
      line[f"{column} mean"] = float(values.mean()) if len(values) else float("nan")
      line[f"{column} std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
      line[f"{column} n"] = int(len(values))
      reported = float("nan")
      if paper is not None:
        match = paper[(paper.row == row) & (paper.column == column)]
        if len(match) and pd.notna(match.value.iloc[0]):
          reported = float(match.value.iloc[0])
      line[f"{column} paper"] = reported
    out.append(line)
  return pd.DataFrame(out)


NOT_AT_PROFILE = "n/a (not at this profile)"


def grid_markdown(table: pd.DataFrame, columns: Sequence[str], row_header: str, metric_label: str,
                  extra: dict[str, dict[str, str]] | None = None, skipped: Sequence[str] = (),
                  floors: Sequence[str] = ()) -> str:
  """Ours and the paper's per column; `extra`: more columns, label -> {row: shown text};
  `skipped`: rows not built at this profile (ours shown as NOT_AT_PROFILE); `floors`: floor rows
  (their labels in italics)."""
  extra = extra or {}
  head = [row_header] + [h for c in columns for h in (f"{c}: ours", f"{c}: paper")] + list(extra)
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for _, r in table.iterrows():
    cells = [f"*{r['row']}*" if r["row"] in floors else str(r["row"])]
    for c in columns:
      cells.append(NOT_AT_PROFILE if r["row"] in skipped else mean_std(r[f"{c} mean"], r[f"{c} std"], r[f"{c} n"]))
      cells.append("n/a" if np.isnan(r[f"{c} paper"]) else f"{r[f'{c} paper']:.1f}")
    cells += [values.get(r["row"], "-") for values in extra.values()]
    lines.append("| " + " | ".join(cells) + " |")
  note = (f"\n{metric_label}; ours: mean ± std over seeds (sample std), n per cell in the CSV; "
          "paper: as reported, n/a where the paper's number is not known.\n")
  return "\n".join(lines) + "\n" + note


def id_order(table_id: str) -> tuple:
  """Natural order of table ids: 1, 2, 4a, 4b, 10, 11, then figure1, figure3, ..."""
  figure = table_id.startswith("figure")
  core = table_id.removeprefix("figure")
  digits = re.match(r"\d*", core).group(0)
  return figure, int(digits or 0), core[len(digits):]


def _heading(table_id: str) -> str:
  """"1" -> "Table 1"; "figure3" -> "Figure 3"; a table named by a word: "acceptance" -> "Acceptance"."""
  if table_id.startswith("figure"):
    return f"Figure {table_id.removeprefix('figure')}"
  return f"Table {table_id}" if table_id[:1].isdigit() else table_id.capitalize()


def table_path(out_dir: Path, table_id: str, suffix: str) -> Path:
  """results/tables/table1.md, results/figures/figure3.md, results/tables/acceptance.md (an id
  that is a word is the file's name), ..."""
  name = f"table{table_id}" if table_id[:1].isdigit() else table_id
  return Path(out_dir) / f"{name}{suffix}"


AUDIT_DIR = "runs"  # in a results directory, beside tables/: the archived runs (lvmae.runs.archive)


def archived_runs(tables_dir: Path) -> set[str]:
  """Every run id the collected tables under `tables_dir` archived (their `archived_runs`)."""
  return {rid for p in Path(tables_dir).glob("*.json") for rid in json.loads(p.read_text()).get("archived_runs", [])}


def audit_markdown(records: Sequence[dict]) -> str:
  """The "Audit trail" section of a page: each cell's run (row, column, seed), linked to its
  archived result; its config, metrics log, provenance and upstream runs sit beside it."""
  if not records:
    return ""
  lines = ["", "### Audit trail", "",
           f"Each cell's run, archived under `{AUDIT_DIR}/` beside this folder (config.txt, result.json, "
           "metrics.jsonl, provenance.json; its upstream runs, named in result.json's `upstream`, beside it).", "",
           "| row | column | seed | run |", "|---|---|---|---|"]
  for r in records:
    seed = "-" if r.get("seed") is None else r["seed"]
    lines.append(f"| {r['row']} | {r['column']} | {seed} | [{r['run']}](../{AUDIT_DIR}/{r['run']}/result.json) |")
  return "\n".join(lines) + "\n"


def write_table(out_dir: Path, table_id: str, title: str, body_md: str, csv: pd.DataFrame | None,
                meta: dict) -> Path:
  """Writes table<id>.md / figure<n>.md (+ .csv, + .tex of its tables, + .json with provenance) atomically."""
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  meta = {"id": table_id, "title": title, "written_at": time.strftime("%Y-%m-%d %H:%M:%S"), **meta}
  header = f"# {_heading(table_id)}: {title}\n\n{_meta_line(meta)}\n\n"
  write_atomic(table_path(out_dir, table_id, ".md"), header + body_md)
  if csv is not None:
    write_atomic(table_path(out_dir, table_id, ".csv"), csv.to_csv(index=False))
  tex = latex.page(f"{_heading(table_id)}: {title}", body_md)
  if tex is not None:
    write_atomic(table_path(out_dir, table_id, ".tex"), tex)
  write_atomic(table_path(out_dir, table_id, ".json"), json.dumps({**meta, "body_md": body_md}, indent=1))
  return table_path(out_dir, table_id, ".md")


def _claims_summary(metas: Sequence[dict]) -> list[str]:
  """The "Claims" section: one line per claim a collected table or figure checks, with its verdict
  and its checks' numbers (a comparison: left − right, the mean paired difference and its interval)."""
  rows = [f"| {_heading(m['id'])} | {c['claim']} | {c['verdict']} | "
          f"{'<br>'.join(check['text'].replace('|', '/') for check in c['checks'])} | {_floors_cell(m)} |"
          for m in metas for c in m.get("claims", [])]
  if not rows:
    return []
  said = [f"- **{_heading(m['id'])}**, {c['claim']} (**{c['verdict']}**): {c['on_slc']}"
          for m in metas for c in m.get("claims", []) if c.get("on_slc")]
  what_slc_says = ["### What SLC can and cannot say about each claim", "", *said, ""] if said else []
  return (["## Claims", "",
           "Whether this run reproduces each claim the tables and figures check (reproduced, not reproduced, "
           "inconclusive, or not run; rules in lvmae/verdicts.py). A comparison of two cells gives left − right: "
           "the mean difference over the pre-training seeds both cells have, and its 95% confidence interval "
           "(Student's t); a claimed > is reproduced when the interval is above 0. The floors are the table's "
           "runs without pre-training (mean ± std over seeds) that every row should beat. Each section below "
           "gives the tables.", "",
           "| table | claim | verdict | checks | floors |", "|---|---|---|---|---|"] + rows + [""] + what_slc_says)


def _floors_cell(meta: dict) -> str:
  """A table's floor rows as the claims table shows them ("random-init encoder 16.5 ± 0.3<br>...")."""
  floors = meta.get("floors") or {}
  return "<br>".join(f"{label.removeprefix('floor: ')} {value}" for label, value in floors.items()) or "-"


def _meta_line(meta: dict) -> str:
  parts = [f"profile: {meta.get('profile', '-')}", f"written: {meta['written_at']}",
           f"git: {meta.get('git_sha', 'unknown')[:10]}"]
  if meta.get("compute_seconds") is not None:
    by_stage = ", ".join(f"{stage} {seconds / 60:.1f}" for stage, seconds in (meta.get("compute_by_stage") or {}).items())
    parts.append(f"compute: {meta['compute_seconds'] / 60:.1f} min over {meta.get('num_runs', 0)} runs"
                 + (f" ({by_stage} min)" if by_stage else ""))
  return " · ".join(parts)


def write_report(tables_dir: Path, report_path: Path) -> Path:
  """REPORT.md: a line per claim checked and its verdict, then every collected table, then figure,
  in id order, each with its profile, date, sha and compute (figures are read from the `figures`
  folder beside `tables_dir`)."""
  figures_dir = Path(tables_dir).parent / "figures"
  metas = [json.loads(p.read_text()) for p in Path(tables_dir).glob("*.json")]
  for p in sorted(figures_dir.glob("figure*.json")):  # images are linked relative to results/
    meta = json.loads(p.read_text())
    meta["body_md"] = re.sub(r"\]\((figure[^)]*\.png)\)", r"](figures/\1)", meta["body_md"])
    metas.append(meta)
  for meta in metas:  # pages link their archived runs from tables/ (../runs/...), the report from results/
    meta["body_md"] = meta["body_md"].replace(f"](../{AUDIT_DIR}/", f"]({AUDIT_DIR}/")
  metas.sort(key=lambda m: id_order(m["id"]))
  try:
    tables = Path(tables_dir).resolve().relative_to(Path(report_path).resolve().parent)
  except ValueError:
    tables = Path(tables_dir)
  lines = ["# LVMAE reproduction report", "",
           f"Generated by `lvmae report` from {tables.as_posix()}/*.json; every number of ours comes from "
           "the run directories each table lists, the paper's from results/paper/.", ""]
  lines += _claims_summary(metas)
  for m in metas:
    lines += [f"## {_heading(m['id'])}: {m['title']}", "", _meta_line(m), ""]
    if m.get("claim"):
      lines += [f"Paper's claim: {m['claim']}", ""]
    lines += [m["body_md"], ""]
  if not metas:
    lines.append("No table has been collected yet: run `make reproduce`.")
  Path(report_path).parent.mkdir(parents=True, exist_ok=True)
  write_atomic(Path(report_path), "\n".join(lines) + "\n")
  return Path(report_path)
