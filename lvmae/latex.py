"""LaTeX (booktabs) versions of a results page's tables, for readers who cite them: every markdown
pipe table of a page becomes one `tabular` (header, \\midrule, rows), its cells escaped for LaTeX
(`%`, `_`, `&`, `#`, `$`, `{`, `}`, `~`, `^`, `\\`; ± and − as math; *italic* floor labels as
\\emph). Needs `\\usepackage{booktabs}`. Nothing but the tables is converted: the page's notes and
verdicts stay in its .md.
"""
from __future__ import annotations

import re

_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SYMBOLS = {"±": r"$\pm$", "−": r"$-$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$"}


def escape(text: str) -> str:
  """`text` as LaTeX: specials escaped, ± − × ≥ ≤ as math, `*words*` as \\emph, backticks dropped."""
  text = "".join(_SPECIALS.get(ch, ch) for ch in text.replace("`", ""))
  for symbol, latex in _SYMBOLS.items():
    text = text.replace(symbol, latex)
  return re.sub(r"\*([^*]+)\*", r"\\emph{\1}", text)


def _cells(line: str) -> list[str]:
  return [cell.strip() for cell in line.strip().strip("|").split("|")]


def pipe_tables(markdown: str) -> list[list[list[str]]]:
  """Every pipe table of a markdown text: its rows of cells (the header first), the |---| rule out."""
  tables, current = [], []
  for line in markdown.splitlines() + [""]:
    if line.lstrip().startswith("|"):
      if not re.fullmatch(r"\|?(\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*", line.strip()):
        current.append(_cells(line))
    elif current:
      tables.append(current)
      current = []
  return tables


def tabular(rows: list[list[str]]) -> str:
  """One booktabs tabular: the first row is the header; the first column left-aligned, others right."""
  width = max(len(row) for row in rows)
  rows = [row + [""] * (width - len(row)) for row in rows]
  body = [" & ".join(escape(cell) for cell in row) + r" \\" for row in rows]
  return "\n".join([rf"\begin{{tabular}}{{l{'r' * (width - 1)}}}", r"\toprule", body[0], r"\midrule", *body[1:],
                    r"\bottomrule", r"\end{tabular}"]) + "\n"


def page(title: str, markdown: str) -> str | None:
  """The LaTeX of a page's tables (None when it has none), each after a comment naming the page."""
  tables = pipe_tables(markdown)
  if not tables:
    return None
  return "\n".join(f"% {title} ({i + 1} of {len(tables)}); needs \\usepackage{{booktabs}}\n{tabular(rows)}"
                   for i, rows in enumerate(tables))
