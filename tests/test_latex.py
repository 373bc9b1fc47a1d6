"""LaTeX versions of a page's tables: booktabs, every cell escaped."""
from lvmae import latex, report

PAGE = """Some text with 50% and a_b.

| row | top-1: ours | top-1: paper |
|---|---|---|
| adaptive (15%) | 33.4 ± 5.5 | 52.1 |
| *floor: raw pixels* | 12.0 | n/a |

A note.

| check | verdict |
|:---|---:|
| oracle − random > 0 | reproduced |
"""


def test_every_pipe_table_becomes_a_booktabs_tabular_with_escaped_cells():
  tables = latex.pipe_tables(PAGE)
  assert [len(t) for t in tables] == [3, 2]  # header + rows, the rules left out
  tex = latex.page("Table 1: t", PAGE)
  assert tex.count(r"\begin{tabular}{lrr}") == 1 and tex.count(r"\begin{tabular}{lr}") == 1
  assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 2
  assert r"adaptive (15\%) & 33.4 $\pm$ 5.5 & 52.1 \\" in tex
  assert r"\emph{floor: raw pixels} & 12.0 & n/a \\" in tex
  assert r"oracle $-$ random > 0 & reproduced \\" in tex
  assert "A note" not in tex and "a_b" not in tex  # only the tables


def test_escape_handles_every_latex_special():
  assert latex.escape(r"a&b%c$d#e_f{g}h~i^j\k") == (r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i"
                                                     r"\textasciicircum{}j\textbackslash{}k")
  assert latex.escape("`lvmae run`") == "lvmae run"


def test_a_page_without_tables_writes_no_tex(tmp_path):
  assert latex.page("t", "no tables here\n") is None
  report.write_table(tmp_path, "1", "t", PAGE, None, {"profile": "smoke"})
  report.write_table(tmp_path, "figure3", "f", "just a figure\n", None, {"profile": "smoke"})
  assert (tmp_path / "table1.tex").read_text() == latex.page("Table 1: t", PAGE)
  assert not (tmp_path / "figure3.tex").exists()
