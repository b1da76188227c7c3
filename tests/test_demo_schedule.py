"""``l1ad demo``'s stage scheduler: independent stages side by side, dependencies respected, the first failure
stops the run with its exit code (fault injections: a failing stage, a stage started before its input)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import yaml

from l1ad.cli.demo import Stage, demo_stages, run_stages, skipped_stages
from l1ad.errors import StageFailed

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _python(stage: Stage) -> list[str]:
    return [sys.executable, "-c", stage.args[0]]


def _timed(log: Path, name: str, seconds: float, rc: int = 0) -> str:
    """A stage that records when it ran (start, end) and exits with ``rc``."""
    return (f"import time, sys; t0 = time.time(); time.sleep({seconds}); "
            f"open({str(log)!r}, 'a').write('{name} %r %r\\n' % (t0, time.time())); sys.exit({rc})")


def _spans(log: Path) -> dict[str, tuple[float, float]]:
    return {n: (float(a), float(b)) for n, a, b in (ln.split() for ln in log.read_text().splitlines())}


def test_independent_stages_overlap_and_wait_for_their_inputs(tmp_path):
    log = tmp_path / "log"
    stages = [Stage("gen", (_timed(log, "gen", 0.5),), ()),
              Stage("a", (_timed(log, "a", 1.0),), (), ("gen",)),
              Stage("b", (_timed(log, "b", 1.0),), (), ("gen",)),
              Stage("c", (_timed(log, "c", 0.2),), (), ("a", "b"))]
    finished = run_stages(stages, jobs=2, command=_python)
    assert [f[0].name for f in finished][0] == "gen" and [f[0].name for f in finished][-1] == "c"
    s = _spans(log)
    assert s["a"][0] >= s["gen"][1] and s["b"][0] >= s["gen"][1]  # inputs first
    assert s["c"][0] >= max(s["a"][1], s["b"][1])
    assert s["a"][0] < s["b"][1] and s["b"][0] < s["a"][1]  # side by side


def test_one_job_runs_stages_one_after_the_other(tmp_path):
    log = tmp_path / "log"
    stages = [Stage("a", (_timed(log, "a", 0.3),), ()), Stage("b", (_timed(log, "b", 0.3),), ())]
    run_stages(stages, jobs=1, command=_python)
    s = _spans(log)
    assert s["b"][0] >= s["a"][1] or s["a"][0] >= s["b"][1]


def test_a_failing_stage_stops_the_others_with_its_exit_code(tmp_path):
    log = tmp_path / "log"
    stages = [Stage("slow", (_timed(log, "slow", 60),), ()),
              Stage("bad", (_timed(log, "bad", 0.3, rc=1),), ()),
              Stage("later", (_timed(log, "later", 0.1),), (), ("bad",))]
    t0 = time.monotonic()
    with pytest.raises(StageFailed) as e:
        run_stages(stages, jobs=2, command=_python)
    assert e.value.exit_code == 1 and "'bad'" in str(e.value)
    assert time.monotonic() - t0 < 30  # the slow stage was interrupted, not waited for
    assert set(_spans(log)) == {"bad"}  # 'later' never started, 'slow' never finished


def test_skipped_stages_count_as_done(tmp_path):
    log = tmp_path / "log"
    stages = [Stage("gen", (_timed(log, "gen", 0.1),), ()), Stage("a", (_timed(log, "a", 0.1),), (), ("gen",))]
    run_stages(stages, jobs=2, skip={"gen"}, command=_python)
    assert set(_spans(log)) == {"a"}


def test_every_demo_stage_waits_for_what_it_reads():
    """Fault injection on the real stage list: each stage's input paths are outputs of a stage it comes after."""
    stages = demo_stages(Path("out/demo"), Path("data"), "vu13p", 100)
    by_name = {s.name: s for s in stages}

    def upstream(name: str) -> set[str]:
        seen, todo = set(), list(by_name[name].after)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo += by_name[n].after
        return seen

    def inputs(s: Stage) -> list[str]:
        """The stage's path arguments, plus the samples its YAML config names under ``--data-dir``."""
        paths = list(s.args)
        cfg = {"train": s.args[1], "abcd": "abcd.yaml"}.get(s.args[0])  # (evaluate: its model's data)
        if cfg is not None and "--data-dir" in s.args:
            data_dir = s.args[s.args.index("--data-dir") + 1]
            data = yaml.safe_load((CONFIGS / cfg).read_text())["data"]
            for v in data.values():
                for f in v if isinstance(v, list) else [v]:
                    if isinstance(f, str) and f.endswith(".h5"):
                        paths.append(f"{data_dir}/{f}")
        return paths

    for s in stages:
        for other in stages:
            if other.name == s.name:
                continue
            reads = [a for a in inputs(s) if any(a == o or a.startswith(o + "/") for o in other.outputs)]
            if reads:
                assert other.name in upstream(s.name), f"{s.name} reads {reads} of {other.name} without waiting"


def test_side_by_side_stages_keep_stdout_and_stderr_apart_with_their_prefix(tmp_path, capsys):
    code = "import sys, time; print('out-{0}'); print('err-{0}', file=sys.stderr); time.sleep(0.3)"
    stages = [Stage("a", (code.format("a"),), ()), Stage("bb", (code.format("bb"),), ())]
    run_stages(stages, jobs=2, command=_python)
    out, err = capsys.readouterr()
    assert "[a ] out-a" in out and "[bb] out-bb" in out and "] err-" not in out
    assert "[a ] err-a" in err and "[bb] err-bb" in err


def test_skip_generate_covers_both_generation_stages():
    stages = demo_stages(Path("out/demo"), Path("data"), "vu13p", 100)
    assert {"generate", "generate-btag"} <= skipped_stages(stages, [], ["generate"])  # reuse every sample
    assert skipped_stages(stages, [], ["generate-btag"]) == {"generate-btag"}
    run = {s.name for s in stages} - skipped_stages(stages, ["generate", "train"], [])
    assert run == {"generate", "generate-btag", "train"}
