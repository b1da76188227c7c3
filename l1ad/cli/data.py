"""``l1ad data``: inspect event files, encode them into hardware words, convert CMS L1 ntuples.

(``l1ad data generate`` is added by :mod:`l1ad.cli.data_generate` when present.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from l1ad.errors import DataError

__all__ = ["app"]

log = logging.getLogger(__name__)

app = typer.Typer(
    name="data",
    help="L1 event data: inspect ADC2021 files, encode into uGT words, convert CMS L1 ntuples, generate samples.",
    no_args_is_help=True,
)


def _console() -> Any:
    from rich.console import Console

    return Console(width=140, soft_wrap=False)


def _fmt_range(r: list[float | None] | None) -> str:
    if not r:
        return "-"
    return f"[{r[0]:.3g}, {r[1]:.3g}]"


def _print_summary(console: Any, s: dict[str, Any]) -> None:
    from rich.table import Table

    attrs = s.get("attrs", {})
    prov = ", ".join(f"{k}={attrs[k]}" for k in ("process", "sqrt_s_gev", "mean_pileup", "seed", "generator") if k in attrs)
    if s.get("weighted"):
        prov += f"; weighted: {len(s['strata'])} strata"
    if s["kind"] == "tracks":
        t = Table(title=f"{s['file']}: {s['n_jets']} jets, labels {s['labels']}, <tracks> {s['mean_tracks']:.2f}"
                  + (f" ({prov})" if prov else ""))
        t.add_column("track feature")
        t.add_column("range")
        for k, r in s["feature_ranges"].items():
            t.add_row(k, _fmt_range(r))
        console.print(t)
        return
    m = s["means"]
    t = Table(
        title=f"{s['file']}: {s['n_events']} events" + (f" ({prov})" if prov else "")
        + f"\n<MET> {m['met']:.1f} GeV, <leading jet ET> {m['leading_jet_et']:.1f} GeV, <HT> {m['ht']:.1f} GeV"
    )
    for col in ("group", "<mult>", "frac >= 1", "<pT> [GeV]", "pT range", "eta range", "phi range"):
        t.add_column(col, justify="right" if col != "group" else "left")
    for g, d in s["groups"].items():
        t.add_row(
            g, f"{d['mean_multiplicity']:.3f}", f"{d['fraction_with_object']:.3f}",
            "-" if d["mean_pT"] is None else f"{d['mean_pT']:.2f}",
            _fmt_range(d["pT_range"]), _fmt_range(d["eta_range"]), _fmt_range(d["phi_range"]),
        )
    console.print(t)


@app.command("inspect")
def inspect_cmd(
    files: list[Path] = typer.Argument(..., help="Event files (ADC2021 HDF5 'Particles', or b-tag 'Tracks')."),
    out: Path = typer.Option(None, "--out", "-o", help="Directory for <name>.summary.json/.png "
                             "(default: <first file's dir>/summary)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots (mplhep)."),
    chunk_size: int = typer.Option(200_000, help="Events read per chunk (memory bound)."),
) -> None:
    """Physics summary of event files: counts, multiplicities, kinematic ranges; JSON + PNG plots. A weighted
    (stitched zero-bias) file also gets <name>.tails.png: its strata's weights and the leading e/gamma, muon,
    jet and MET distributions as fractions of LHC crossings, log scale, with the menu's seed thresholds."""
    from l1ad.data.summary import plot_summaries, plot_tails, summarize
    from l1ad.io import check_output, write_json

    for f in files:  # validate every input before writing anything
        if not f.is_file():
            raise DataError(f"{f}: no such file")
    if chunk_size < 1:
        raise DataError(f"--chunk-size: must be >= 1 (value {chunk_size})")
    out_dir = check_output(out if out is not None else files[0].parent / "summary", "--out", "dir")
    console = _console()
    summaries = []
    for f in files:
        s = summarize(f, chunk_size=chunk_size)
        summaries.append(s)
        _print_summary(console, s)
    for f, s in zip(files, summaries, strict=True):
        write_json(out_dir / f"{f.stem}.summary.json", s)
        if plots and s["kind"] == "events":
            plot_summaries([s], out_dir / f"{f.stem}.summary.png")
            if s["weighted"]:
                plot_tails(s, out_dir / f"{f.stem}.tails.png")
    n_events = [s for s in summaries if s["kind"] == "events"]
    if plots and len(n_events) > 1:
        plot_summaries(n_events, out_dir / "comparison.png")
    console.print(f"summaries written to {out_dir}/")


@app.command("encode")
def encode_cmd(
    file: Path = typer.Argument(..., help="ADC2021 event file."),
    out: Path = typer.Option(None, "--out", "-o", help="Output encoded-words HDF5: 'Words' (N, 57) int16, the "
                             "menu's 'SeedBits', the source's weights and isolation flags (default: <file>.words.h5)."),
    config: Path = typer.Option(None, "--config", help="Object encoding YAML (default configs/l1_objects.yaml)."),
    menu: str = typer.Option("menu.yaml", "--menu", help="Menu YAML whose per-event seed decisions are stored "
                             "(configs/menu.yaml); 'none' for no seed bits."),
    compression: str = typer.Option("none", "--compression", help="HDF5 filter of the datasets: none (fastest to "
                                    "read, 114 B/event), lzf or gzip."),
    chunk_size: int = typer.Option(200_000, help="Events per chunk."),
) -> None:
    """Encode float events into the uGT integer words (saturating; overflow counts are reported and stored), with
    the menu's seed decisions, so that `l1ad rates --zero-bias/--signal` can read the words file instead of the
    event file (same results, several times faster). The file records the encoding's and the menu's sha256 and the
    source's; rates refuses a file encoded with another encoding or menu."""
    from rich.table import Table

    from l1ad.data.adc2021 import count_events
    from l1ad.data.encoding import load_encoding
    from l1ad.data.words import write_words
    from l1ad.io import check_output

    if chunk_size < 1:
        raise DataError(f"--chunk-size: must be >= 1 (value {chunk_size})")
    if compression not in ("none", "lzf", "gzip"):
        raise DataError(f"--compression: one of none, lzf, gzip (value {compression!r})")
    enc = load_encoding(config)
    m = None
    if menu.lower() != "none":
        from l1ad.rates.menu import load_menu

        m = load_menu(menu)
    n = count_events(file)
    if n == 0:
        raise DataError(f"{file}: field 'Particles': the file holds no events (value 0 events); nothing to encode")
    out = check_output(out if out is not None else file.with_suffix(".words.h5"), "--out", "file")
    total = write_words(file, out, enc, m, menu_path=None if m is None else menu, chunk_size=chunk_size,
                        compression=None if compression == "none" else compression)
    t = Table(title=f"{file} -> {out}: {n} events encoded" + (f", {len(m.seed_names)} seed bits" if m else ""))
    t.add_column("field group")
    t.add_column("saturated values", justify="right")
    for k, v in total.items():
        t.add_row(k, str(v))
    _console().print(t)


@app.command("convert")
def convert_cmd(
    file: Path = typer.Argument(..., help="CMS L1 ntuple (ROOT, L1Upgrade tree)."),
    out: Path = typer.Argument(..., help="Output ADC2021 HDF5 file."),
    branches: Path = typer.Option(None, "--branches", help="Branch mapping YAML (default configs/root_branches.yaml)."),
    chunk_size: int = typer.Option(100_000, help="Entries per chunk."),
) -> None:
    """Convert a CMS L1 ntuple (uproot) into an ADC2021 event file (19 objects x (pT, eta, phi, class))."""
    from l1ad.data.adc2021 import EventWriter
    from l1ad.data.root import iter_root, load_root_branches
    from l1ad.io import check_output

    if chunk_size < 1:
        raise DataError(f"--chunk-size: must be >= 1 (value {chunk_size})")
    check_output(out, "OUT", "file")
    cfg = load_root_branches(branches)
    blocks = iter_root(file, chunk_size=chunk_size, config=cfg)
    with EventWriter(out, {"process": file.stem, "source": str(file), "generator": "CMS L1Ntuple",
                           "root_tree": cfg.tree}) as w:
        for b in blocks:
            w.append(b)
    _console().print(f"{file} -> {out}: {w.n} events")


try:
    from l1ad.cli.data_generate import register as _reg_gen
except ModuleNotFoundError as _e:  # generation module not (yet) part of this checkout
    if _e.name != "l1ad.cli.data_generate":
        raise
else:
    _reg_gen(app)
