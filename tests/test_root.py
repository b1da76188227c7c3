"""CMS L1 ntuple reader: a small L1Upgrade-style tree written with uproot reads back into the 19-object layout."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

uproot = pytest.importorskip("uproot")

from l1ad.data.adc2021 import read_events, write_events  # noqa: E402
from l1ad.data.root import iter_root, load_root_branches, read_root, root_count  # noqa: E402
from l1ad.errors import DataError  # noqa: E402

TREE = "l1UpgradeTree/L1UpgradeTree"


def _events():
    """Three events in L1Upgrade style (unsorted objects, several bunch crossings, muon qualities)."""
    return {
        "egEt": [[10.0, 35.5, 3.0], [], [5.0, 6.0, 7.0, 8.0, 9.0, 1.0]],
        "egEta": [[0.5, -1.0, 2.0], [], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]],
        "egPhi": [[1.0, -2.0, 3.0], [], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]],
        "egBx": [[0, 0, -1], [], [0, 0, 0, 0, 0, 0]],
        "muonEt": [[20.0, 30.0], [7.0], []],
        "muonEta": [[1.1, -2.1], [0.3], []],
        "muonPhi": [[0.2, -0.2], [1.5], []],
        "muonBx": [[0, 0], [0], []],
        "muonQual": [[12, 4], [15], []],
        "jetEt": [[50.0] + [float(i) for i in range(1, 13)], [80.0, 120.0], []],
        "jetEta": [[4.5] + [0.0] * 12, [1.0, -1.0], []],
        "jetPhi": [[3.0] + [0.1] * 12, [-1.0, 1.0], []],
        "jetBx": [[0] * 13, [0, 1], []],
        "sumType": [[0, 1, 2, 3], [2, 2], [0]],
        "sumEt": [[300.0, 150.0, 42.0, 30.0], [17.0, 99.0], [10.0]],
        "sumPhi": [[0.0, 0.0, -1.25, 2.0], [0.5, 0.7], [0.0]],
        "sumBx": [[0, 0, 0, 0], [0, 1], [0]],
    }


def write_l1_tree(path, branches: dict, prefix: str = "") -> None:
    """Write jagged branches as a ROOT TTree (as CMS L1Ntuples are; ``f[name] = ...`` would make an RNTuple)."""
    arrays = {prefix + k: ak.Array(v) for k, v in branches.items()}
    with uproot.recreate(path) as f:
        f.mktree(TREE, {k: a.type.content for k, a in arrays.items()})
        f[TREE].extend(arrays)


@pytest.fixture
def ntuple(tmp_path):
    path = tmp_path / "L1Ntuple.root"
    write_l1_tree(path, _events())
    assert type(uproot.open(path)[TREE]).__name__.startswith("Model_TTree")
    return path


def test_reads_l1upgrade_tree_into_layout(ntuple, tmp_path):
    p = read_root(ntuple)
    assert p.shape == (3, 19, 4) and p.dtype == np.float32 and root_count(ntuple) == 3
    # event 0: MET = sumType 2; e/gamma pT-sorted, bx != 0 dropped; muon qual 4 dropped; jets capped at 10
    np.testing.assert_allclose(p[0, 0], [42.0, 0.0, -1.25, 1])
    np.testing.assert_allclose(p[0, 1:4, 0], [35.5, 10.0, 0.0])
    np.testing.assert_allclose(p[0, 1, 1:], [-1.0, -2.0, 2])
    np.testing.assert_allclose(p[0, 5:9, 0], [20.0, 0, 0, 0])
    np.testing.assert_allclose(p[0, 9:19, 0], [50.0, 12, 11, 10, 9, 8, 7, 6, 5, 4])
    assert p[0, 9, 1] == pytest.approx(4.5) and p[0, 9, 3] == 4
    # event 1: MET from bx 0 only; the bx=1 jet dropped
    np.testing.assert_allclose(p[1, 0, [0, 2]], [17.0, 0.5])
    np.testing.assert_allclose(p[1, 9:11, 0], [80.0, 0.0])
    np.testing.assert_allclose(p[1, 5, :], [7.0, 0.3, 1.5, 3])
    # event 2: four leading of six e/gamma; no MET type 2 -> zero MET row (class 0)
    np.testing.assert_allclose(p[2, 1:5, 0], [9.0, 8.0, 7.0, 6.0])
    np.testing.assert_array_equal(p[2, 0], [0, 0, 0, 0])
    assert set(np.unique(p[:, :, 3])) <= {0, 1, 2, 3, 4}
    # chunked == full, and the result is a valid ADC2021 file
    np.testing.assert_array_equal(np.concatenate(list(iter_root(ntuple, chunk_size=2))), p)
    write_events(tmp_path / "conv.h5", p)
    np.testing.assert_array_equal(read_events(tmp_path / "conv.h5"), p)


def test_mapping_config_and_missing_branch(ntuple, tmp_path):
    cfg = load_root_branches()
    assert cfg.tree == TREE and cfg.met.met_type == 2
    cfg0 = cfg.model_copy(deep=True)
    cfg0.muon.min_quality = 0
    assert read_root(ntuple, cfg0)[0, 5:7, 0].tolist() == [30.0, 20.0]
    cfg.jet.pt = "jetEtNope"
    with pytest.raises(DataError, match=r"L1Ntuple.root: tree 'l1UpgradeTree/L1UpgradeTree': branch 'jetEtNope': missing"):
        read_root(ntuple, cfg)
    notroot = tmp_path / "x.root"
    notroot.write_bytes(b"not a root file at all")
    with pytest.raises(DataError, match=r"x.root: not a readable ROOT file"):
        read_root(notroot)


def test_prefixed_branch_names_resolve(ntuple, tmp_path):
    """Real ntuples nest leaves under the split branch 'L1Upgrade'; names match by their last component."""
    path = tmp_path / "prefixed.root"
    write_l1_tree(path, _events(), prefix="L1Upgrade.")
    assert "nL1Upgrade.egEt" in uproot.open(path)[TREE].keys()  # counters must not be mistaken for leaves
    np.testing.assert_array_equal(read_root(path), read_root(ntuple))
