"""README's performance table is generated from the benchmarks' JSON records (``python -m benchmarks.report``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402
from benchmarks.harness import Bench  # noqa: E402


def _record(results: Path, name: str, fast: float, target: float) -> None:
    """A real harness record: two timed paths (a baseline and a faster one) and a rate and a ratio target."""
    bench = Bench(name)
    bench.time("base", "baseline: slow", lambda: sum(range(200_000)), 10)
    bench.time("fast", "fast path", lambda: sum(range(2_000)), 10 * fast, baseline="base")
    bench.target("fast", ">=", target, note="rate target")
    bench.target("fast", ">=", 2.0, "ratio", note="ratio target")
    bench.require("same", True, "outputs identical")
    bench.finish(results / f"{name}.json")


def test_report_rewrites_only_its_section_and_check_detects_staleness(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    _record(results, "vae", 1.0, 1.0)
    _record(results, "cnn", 1.0, 1e12)  # an unreachable target: the row says missed
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nintro\n\n{report.BEGIN}\nold table\n{report.END}\n\n## after\ntext\n")
    args = ["--readme", str(readme), "--results", str(results)]
    assert report.main([*args, "--check"]) == 1  # the old table is not what the records give
    assert report.main(args) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nintro\n\n") and text.endswith("\n\n## after\ntext\n") and "old table" not in text
    rows = [line for line in text.splitlines() if line.startswith("| vae") or line.startswith("| cnn")]
    assert [r.split(" | ")[0] for r in rows] == ["| vae"] * 3 + ["| cnn"] * 3  # the documented order
    assert rows[0].endswith("| met |") and "baseline" not in rows[0].split(" | ")[3]  # label without 'baseline: '
    assert any(r.endswith("| **missed** |") for r in rows[3:])
    assert "finished" in json.loads((results / "vae.json").read_text()) and "2 records, finished" in text
    assert report.main([*args, "--check"]) == 0
    # a changed number makes the table stale again
    rec = json.loads((results / "vae.json").read_text())
    rec["targets"][0]["got"] *= 2
    (results / "vae.json").write_text(json.dumps(rec))
    assert report.main([*args, "--check"]) == 1


def test_report_refuses_bad_input(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert report.main(["--readme", str(readme), "--results", str(results)]) == 2
    assert "needs one" in capsys.readouterr().err and readme.read_text() == "no markers\n"
    readme.write_text(f"{report.BEGIN}\n{report.END}\n")
    (results / "x.json").write_text("{not json")
    with pytest.raises(SystemExit) as e:
        report.main(["--readme", str(readme), "--results", str(results)])
    assert e.value.code == 2 and "x.json: unreadable benchmark record" in capsys.readouterr().err


def test_repository_readme_has_the_generated_section():
    text = (REPO / "README.md").read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    section = text.split(report.BEGIN)[1].split(report.END)[0]
    assert "python -m benchmarks.report" in section
