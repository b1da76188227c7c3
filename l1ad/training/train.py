"""``l1ad train CONFIG``: data -> preprocessing fit -> QKeras model + float twin -> artifact directory."""

from __future__ import annotations

import logging
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l1ad import __version__, _compat
from l1ad.errors import DataError
from l1ad.io import atomic_dir, write_json
from l1ad.models.ae import build_ae
from l1ad.models.artifact import ArtifactMeta
from l1ad.models.base import BuiltModel
from l1ad.models.btag import build_cnn
from l1ad.models.metrics import ad_metrics, btag_metrics, quantized_over_float
from l1ad.models.preprocessing import Preprocessing, fit_float_scaling, fit_word_preprocessing
from l1ad.models.pruning import sparsity
from l1ad.models.quantizers import QuantConfig, snap_kernels_to_grid
from l1ad.models.rebalance import rebalance_dense_chain
from l1ad.models.scoring import trigger_scores
from l1ad.models.vae import build_vae
from l1ad.training import data as D
from l1ad.training.config import TrainConfig
from l1ad.training.loop import FitResult, fit_model

__all__ = ["Dataset", "build_model", "train"]

log = logging.getLogger("l1ad.training")


@dataclass
class Dataset:
    x: np.ndarray  # preprocessed inputs, all events used
    y: np.ndarray | None  # labels (cnn) or None
    split: D.Split
    prep: Preprocessing
    fields: list[dict[str, Any]]
    provenance: dict[str, Any]
    #: per-event background weights of a stitched zero bias (fraction of LHC crossings), None if unweighted
    weights: np.ndarray | None = None

    def split_weights(self, part: slice) -> np.ndarray | None:
        """The weights of a split, renormalised per stratum to that split (None for an unweighted file)."""
        if self.weights is None:
            return None
        return self.weights[part]


def build_model(cfg: TrainConfig, q: QuantConfig | None, n_features: int | None = None) -> BuiltModel:
    """``q=None`` builds the float twin (with the input quantizer if ``training.float_twin_input`` says so)."""
    m = cfg.model
    in_q = cfg.quantizers.input if cfg.training.float_twin_input == "quantized" else None
    if m.kind == "vae":  # the float twin keeps the plain VAE mean as mu (its score ranking is the same)
        return build_vae(m, q, name=cfg.name, input_q=in_q, latent_scale=None if q is not None else 1.0)
    if m.kind == "ae":
        return build_ae(m, q, name=cfg.name, input_q=in_q)
    assert n_features is not None
    return build_cnn(m, q, n_features, name=cfg.name, input_q=in_q)


def _load_ad(cfg: TrainConfig, data_dir: Path | None) -> Dataset:
    assert cfg.data.background is not None
    path = D.resolve_data_file(cfg.data.background, data_dir)
    n_file = D.count(path)
    n = n_file if cfg.data.max_events is None else min(n_file, cfg.data.max_events)
    split = D.split_counts(n, cfg.data.validation_fraction, cfg.data.test_fraction, str(path))
    words = D.load_words(path, 0, n)
    fields = D.input_fields()
    extra = np.array([cfg.data.drop_lsbs.get(f["group"], 0) for f in fields], np.int64)
    prep = fit_word_preprocessing(words[split.train], cfg.quantizers.input, cfg.data.coverage, extra_shift=extra)
    weights = D.split_event_weights(path, split)
    prov = {"background": {**D.file_provenance(path), "events_in_file": n_file, "events_used": n,
                           "train": [0, split.n_train], "validation": [split.val.start, split.val.stop],
                           "test": [split.test.start, split.test.stop], "drop_lsbs": dict(cfg.data.drop_lsbs),
                           "weighted": weights is not None}}
    return Dataset(prep.apply(words), None, split, prep, fields, prov, weights)


def _load_jets(cfg: TrainConfig, data_dir: Path | None) -> tuple[Dataset, list[str]]:
    assert cfg.data.jets is not None
    path = D.resolve_data_file(cfg.data.jets, data_dir)
    tracks, labels, names = D.load_jets(path, cfg.data.max_events)
    if tracks.shape[1] != cfg.model.n_tracks:  # type: ignore[union-attr]
        raise DataError(f"{path}: dataset 'Tracks': {tracks.shape[1]} tracks per jet, config model.n_tracks "
                        f"is {cfg.model.n_tracks}")  # type: ignore[union-attr]
    perm = np.random.default_rng(cfg.training.seed).permutation(len(tracks))
    tracks, labels = tracks[perm], labels[perm]
    split = D.split_counts(len(tracks), cfg.data.validation_fraction, cfg.data.test_fraction, str(path))
    prep = fit_float_scaling(tracks[split.train], cfg.quantizers.input, cfg.data.coverage)
    prov = {"jets": {**D.file_provenance(path), "events_used": len(tracks), "shuffle_seed": cfg.training.seed,
                     "train": split.n_train, "validation": split.n_val, "test": split.n - split.n_train - split.n_val}}
    fields = [{"name": n} for n in names]
    return Dataset(prep.apply(tracks), labels, split, prep, fields, prov), names


def _targets(built: BuiltModel, ds: Dataset, q: QuantConfig) -> np.ndarray:
    if built.kind == "cnn":
        assert ds.y is not None
        return ds.y.astype(np.float32)
    # autoencoders reconstruct what the quantized network sees (the input quantizer's output)
    return np.asarray(q.input.qkeras()(ds.x), dtype=np.float32)


def _ad_eval(signal_paths: list[Path], ds: Dataset, models: dict[str, Any], score: str,
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    part = ds.split.test if ds.split.test.stop > ds.split.test.start else ds.split.val
    xt = ds.x[part]
    wt = ds.split_weights(part)
    bkg = {k: trigger_scores(m, score, xt) for k, m in models.items()}
    out: dict[str, Any] = {"background_test_events": len(xt),
                           "background_score_quantiles": {k: {str(p): float(np.quantile(b, p))
                                                              for p in (0.5, 0.99, 0.999)}
                                                          for k, b in bkg.items()},
                           "signals": {}}
    prov = {}
    for path in signal_paths:
        prov[path.stem] = D.file_provenance(path)
        xs = ds.prep.apply(D.load_words(path, 0, D.count(path)))
        sig = {k: trigger_scores(m, score, xs) for k, m in models.items()}
        per = {k: ad_metrics(bkg[k], sig[k], wt) for k in models}
        if "float" in per:
            per["ratio_quantized_over_float_uncertainty"] = quantized_over_float(bkg, sig, weights=wt)
            per["ratio_quantized_over_float"] = {
                wp: (per["quantized"]["working_points"][wp]["efficiency"]
                     / per["float"]["working_points"][wp]["efficiency"]
                 if per["float"]["working_points"][wp]["efficiency"] > 0 else None)
                for wp in per["quantized"]["working_points"]}
        out["signals"][path.stem] = per
    return out, prov


def train(cfg: TrainConfig, data_dir: Path | None = None, out: Path | None = None,
          epochs: int | None = None, config_source: str = "") -> Path:
    """Train ``cfg`` and write the artifact directory; returns its path."""
    tf = _compat.tensorflow()
    out = Path(out) if out is not None else cfg.output_dir()
    t_start = time.monotonic()
    q = cfg.quantizers
    signal_paths = [D.resolve_data_file(s, data_dir) for s in cfg.data.signals]  # fail before training
    if cfg.model.kind == "cnn":
        ds, _ = _load_jets(cfg, data_dir)
        n_feat = ds.x.shape[2]
    else:
        ds = _load_ad(cfg, data_dir)
        n_feat = None
    sp = ds.split
    log.info("%s: %d train / %d validation / %d test events; %d inputs", cfg.name, sp.n_train, sp.n_val,
             sp.n - sp.n_train - sp.n_val, int(np.prod(ds.x.shape[1:])))
    ckpt_dir = out.parent / f"{out.name}.checkpoint"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, FitResult] = {}
    builts: dict[str, BuiltModel] = {}
    # the float twin trains first; the quantized model starts from its weights (quantization-aware
    # fine-tuning), so both share one latent geometry and the comparison isolates what quantization costs
    variants = ([("float", None)] if cfg.training.float_twin else []) + [("quantized", q)]
    for label, qv in variants:
        tf.keras.utils.set_random_seed(cfg.training.seed)  # initial weights follow training.seed
        built = build_model(cfg, qv, n_feat)
        kernel_layers = _kernel_layers(built)
        if cfg.training.init_on_weight_grid:
            snap_kernels_to_grid(built.model, kernel_layers, q.weight.frac_bits)
        lr, n_epochs, average = None, epochs, False
        if label == "quantized" and "float" in results and cfg.training.init_quantized_from_float:
            _copy_weights(results["float"].model, built.model)
            if built.kind == "vae" and cfg.training.rebalance_before_qat:
                _rebalance_vae(cfg, results["float"].model, built.model, ds.x[sp.train])
            lr = cfg.training.learning_rate * cfg.training.finetune_lr_factor
            n_epochs = epochs or cfg.training.finetune_epochs
            average = cfg.training.qat_weight_averaging
        clip = None
        if label == "float" and cfg.training.clip_float_weights:
            clip = (kernel_layers, q.weight.max_value)
        y = _targets(built, ds, q)
        try:
            res = fit_model(built, ds.x[sp.train], y[sp.train], ds.x[sp.val], y[sp.val], cfg.training,
                            cfg.pruning, f"{cfg.name}/{label}", ckpt_dir / f"{label}.h5", n_epochs, lr,
                            average_weights=average, clip_kernels=clip,
                            sample_weight=_mean_one(ds.split_weights(sp.train)),
                            val_weight=_mean_one(ds.split_weights(sp.val)))
        except BaseException:  # interrupted or failed: no artifact, and no checkpoint left behind
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            raise
        log.info("%s/%s: %d epochs in %.1f s (%.0f events/s)", cfg.name, label, res.epochs_run, res.seconds,
                 res.events_per_second)
        # a fresh copy of the architecture with the trained weights (pruning wrappers / clones leave
        # layers with several inbound nodes, which makes cutting out the trigger sub-model ambiguous)
        clean = build_model(cfg, qv, n_feat)
        _copy_weights(res.model, clean.model)
        res.model = clean.model
        results[label], builts[label] = res, clean
    trig = {k: builts[k].trigger_model() for k in results}
    built_q = builts["quantized"]
    metrics: dict[str, Any] = {"training": {k: {"epochs_run": r.epochs_run, "seconds": round(r.seconds, 2),
                                                "events_per_second": round(r.events_per_second, 1),
                                                "final": {m: v[-1] for m, v in r.history.items()},
                                                "sparsity": sparsity(r.model)}
                                            for k, r in results.items()}}
    provenance = dict(ds.provenance)
    if built_q.kind == "cnn":
        xt, yt = ds.x[sp.test], ds.y[sp.test]  # type: ignore[index]
        metrics["btag"] = {k: btag_metrics(yt, trigger_scores(m, "identity", xt)) for k, m in trig.items()}
    else:
        ev, sprov = _ad_eval(signal_paths, ds, trig, built_q.score)
        metrics["anomaly"] = ev
        provenance["signals"] = sprov
    in_q = q.input
    meta = {
        "name": cfg.name,
        "kind": built_q.kind,
        "input": {"shape": list(ds.x.shape[1:]), "fields": ds.fields},
        "preprocessing": ds.prep.to_json(),
        "input_quantizer": {"bits": in_q.bits, "integer": in_q.integer, "signed": in_q.signed},
        "score": {"type": built_q.score, "output_layer": built_q.trigger_output},
        "quantizers": q.describe(),
        "pruning": cfg.pruning.model_dump(),
        "architecture": cfg.model.model_dump(),
        "data": provenance,
        "training": {**cfg.training.model_dump(), "epochs_override": epochs, "config": config_source,
                     "seconds_total": round(time.monotonic() - t_start, 1)},
        "files": {"model": "model.h5", "trigger": "trigger.h5", "float": "float.h5" if "float" in trig else None},
        "versions": {"l1ad": __version__, "tensorflow": tf.__version__, "qkeras": _qkeras_version(),
                     "python": platform.python_version()},
    }
    with atomic_dir(out) as tmp:
        results["quantized"].model.save(str(tmp / "model.h5"), save_format="h5", include_optimizer=False)
        trig["quantized"].save(str(tmp / "trigger.h5"), save_format="h5", include_optimizer=False)
        if "float" in trig:
            trig["float"].save(str(tmp / "float.h5"), save_format="h5", include_optimizer=False)
        write_json(tmp / "model.json", ArtifactMeta.model_validate(meta).to_json())
        write_json(tmp / "history.json", {k: r.history for k, r in results.items()})
        write_json(tmp / "metrics.json", metrics)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    log.info("artifact written to %s (%.0f s total)", out, time.monotonic() - t_start)
    return out


def _mean_one(w: np.ndarray | None) -> np.ndarray | None:
    """Sample weights scaled to mean 1 (the loss keeps its unweighted scale and learning rates their meaning)."""
    return None if w is None else (w / w.mean()).astype(np.float32)


def _kernel_layers(built: BuiltModel) -> list[str]:
    """Names of the trigger path's layers that have a kernel (what the firmware multiplies by)."""
    return [lay.name for lay in built.trigger_model().layers if getattr(lay, "kernel", None) is not None]


def _rebalance_vae(cfg: TrainConfig, float_model: Any, model: Any, x: np.ndarray) -> None:
    """Power-of-two rebalance of the copied encoder (:mod:`l1ad.models.rebalance`) onto the quantized grids;
    the float function is unchanged exactly (mu gains ``latent_scale``, which the model's rescale removes)."""
    keras = _compat.keras()
    q, m = cfg.quantizers, cfg.model
    assert m.kind == "vae"
    n_hidden = len(m.encoder)
    hidden = keras.Model(float_model.inputs, [float_model.get_layer(f"enc_relu{i + 1}").output
                                              for i in range(n_hidden)])
    outs = hidden.predict(x[:50_000], batch_size=8192, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    names = [f"enc_dense{i + 1}" for i in range(n_hidden)] + ["z_mean"]
    g = rebalance_dense_chain(model, names, outs, m.latent_scale,
                              w_limit=q.weight.max_value, b_limit=q.bias.max_value,
                              act_limit=2.0**q.activation.integer / 2)
    # z_log_var reads the last hidden layer, which now carries the gain g_1 ... g_{n-1}
    lv = model.get_layer("z_log_var")
    w, b = lv.get_weights()
    lv.set_weights([w / np.float32(np.prod(g[:-1])), b])
    log.info("%s: power-of-two rebalance of %s before QAT: %s", cfg.name, names, g)


def _copy_weights(src: Any, dst: Any) -> None:
    for layer in dst.layers:
        if layer.weights:
            layer.set_weights(src.get_layer(layer.name).get_weights())


def _qkeras_version() -> str:
    from importlib.metadata import version

    return version("qkeras")
