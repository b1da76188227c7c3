"""Compiled inner loops of the bunch-crossing assembly (:meth:`l1ad.data.generation.l1emu.L1Emulator.assemble`).

A crossing at <mu> = 60 is ~6,400 tower deposits and ~4,400 towers hit: as NumPy array passes the overlay costs
~20 passes over them and the per-tower measurement ~45, each a fresh temporary, which is what limited the
zero-bias generation to ~600 crossings per CPU-second. These loops (numba, ``cache=True``: compiled once per
machine into ``__pycache__``) do each in one pass; the tower measurement draws its standard normal numbers itself
(xoshiro256** and a ziggurat, below: no array of numbers written and read back), avoids data-dependent
branches and measures every tower of a crossing in vector instructions; anti-kT finds the closest pair from a
tournament tree. Also here: the decay-vertex pass over the Pythia event record (:func:`decay_vertices`). Each
kernel is tested against a NumPy or FastJet reference (``tests/test_generation_kernels.py``); the samples they
give are the same, bit for bit, as before each speed-up (checked on 5,000 crossings and on ``make demo``'s files).
"""

from __future__ import annotations

from typing import Any

import numba
import numba.extending
import numpy as np

__all__ = ["add_deposits", "decay_vertices", "measure_dense", "rng_state", "serving_order", "standard_normals"]

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@_jit
def add_deposits(offsets: np.ndarray, t0: np.ndarray, t1: np.ndarray, iphi: np.ndarray, w_em: np.ndarray,
                 w_had: np.ndarray, idx: np.ndarray, cross: np.ndarray, shift: np.ndarray, flip: np.ndarray,
                 n_phi: int, n_towers: int, dep: np.ndarray) -> None:
    """Add the deposits of interactions ``idx`` (source events) to crossings ``cross`` (columns of the
    ([EM, hadronic], crossing * n_towers + tower) float64 sums ``dep``), each
    interaction rotated by ``shift[k]`` phi towers and, where ``flip[k]``, mirrored in eta (``t1``: the mirrored
    tower of each deposit)."""
    for k in range(len(idx)):
        e = idx[k]
        base = cross[k] * n_towers
        s = shift[k]
        fl = flip[k]
        for j in range(offsets[e], offsets[e + 1]):
            t = t1[j] if fl else t0[j]
            t += s
            if iphi[j] + s >= n_phi:
                t -= n_phi
            dep[0, base + t] += w_em[j]
            dep[1, base + t] += w_had[j]


@_jit
def decay_vertices(decayed: np.ndarray, mother: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Production vertices (n, 3) of the particles of a Pythia event record (flat, ``mother``: global index):
    a ``decayed`` particle starts at its mother's vertex plus the mother's ``step`` (its flight to the decay),
    every other one at the origin. Passes in record order until nothing changes (one pass when mothers come
    before their daughters, as Pythia writes them): the same sums as one generation per pass, at most 64."""
    n = len(mother)
    v = np.zeros((n, 3))
    for _ in range(64):
        changed = False
        for i in range(n):
            if decayed[i]:
                m = mother[i]
                for k in range(3):
                    x = v[m, k] + step[m, k]
                    if x != v[i, k]:
                        v[i, k] = x
                        changed = True
        if not changed:
            break
    return v


# ---------------------------------------------------------------------------------------- random numbers
# Standard normal numbers drawn inside the compiled loops: xoshiro256** (Blackman & Vigna, "Scrambled linear
# pseudorandom number generators", ACM TOMS 47 (2021) 36; period 2^256 - 1, all 64 output bits pass BigCrush),
# seeded by SplitMix64 from one 64-bit seed, and the ziggurat method of Marsaglia & Tsang (J. Stat. Softw. 5
# (2000) 8) with 256 layers: exact (the tail beyond R by Marsaglia's exponential method), a few ns a number.
_M64 = (1 << 64) - 1
_ZIG_N = 256
_ZIG_R = 3.6541528853610088  # start of the tail for 256 layers of area _ZIG_V each [Marsaglia & Tsang 2000]
_ZIG_V = 0.00492867323399


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x[0..256] (x[0] = V / f(R): the base layer's width including the tail, x[1] = R, x[256] = 0)
    and f(x) = exp(-x^2 / 2) at them."""
    x = np.zeros(_ZIG_N + 1)
    x[1] = _ZIG_R
    x[0] = _ZIG_V / np.exp(-0.5 * _ZIG_R * _ZIG_R)
    for i in range(1, _ZIG_N - 1):
        x[i + 1] = np.sqrt(-2.0 * np.log(np.exp(-0.5 * x[i] * x[i]) + _ZIG_V / x[i]))
    return x, np.exp(-0.5 * x * x)


ZIG_X, ZIG_F = _ziggurat_tables()


def rng_state(seed: int) -> np.ndarray:
    """The xoshiro256** state (uint64[4]) for a 64-bit ``seed``: four SplitMix64 outputs (the authors' seeding)."""
    s = int(seed) & _M64
    out = []
    for _ in range(4):
        s = (s + 0x9E3779B97F4A7C15) & _M64
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        out.append(z ^ (z >> 31))
    return np.array(out, np.uint64)


_jit_inline = numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53
# The generator's state travels as four local uint64 (s0, s1, s2, s3) through the loops (returned by every draw):
# kept in registers, ~2x faster than an array the compiler must write back to memory after each draw.


@_jit_inline
def _rotl(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@_jit_inline
def _next_u64(s0: np.uint64, s1: np.uint64, s2: np.uint64, s3: np.uint64) -> tuple:
    """The next xoshiro256** output and the advanced state."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@_jit_inline
def _unit(u: np.uint64) -> float:
    """The top 53 bits of ``u`` as a float in [0, 1)."""
    return np.float64(np.int64(u >> np.uint64(11))) * _TO_UNIT


@_jit
def _normal_rare(u: np.uint64, s0: np.uint64, s1: np.uint64, s2: np.uint64, s3: np.uint64) -> tuple:
    """The ziggurat's rare cases for the draw ``u`` outside its layer's core: the tail beyond R (layer 0, by
    Marsaglia's exponential method) or the wedge of layer i; NaN when the wedge rejects (draw again)."""
    i = np.intp(u & np.uint64(0xFF))
    neg = (u >> np.uint64(8)) & np.uint64(1)
    x = _unit(u) * ZIG_X[i]
    if i == 0:
        while True:
            r, s0, s1, s2, s3 = _next_u64(s0, s1, s2, s3)
            a = -np.log(_unit(r) + _TO_UNIT) / _ZIG_R  # uniform in (0, 1]
            r, s0, s1, s2, s3 = _next_u64(s0, s1, s2, s3)
            b = -np.log(_unit(r) + _TO_UNIT)
            if b + b > a * a:
                break
        x = _ZIG_R + a
        return (-x if neg else x), s0, s1, s2, s3
    r, s0, s1, s2, s3 = _next_u64(s0, s1, s2, s3)
    if ZIG_F[i] + _unit(r) * (ZIG_F[i + 1] - ZIG_F[i]) < np.exp(-0.5 * x * x):
        return (-x if neg else x), s0, s1, s2, s3
    return np.nan, s0, s1, s2, s3


@_jit_inline
def _normal(s0: np.uint64, s1: np.uint64, s2: np.uint64, s3: np.uint64) -> tuple:
    """One standard normal number (ziggurat) and the advanced state: layer i from the low 8 bits, sign from bit 8,
    x = (top 53 bits) x[i]; accepted at once when x < x[i + 1] (~99 %), else the wedge or the tail decides."""
    while True:
        u, s0, s1, s2, s3 = _next_u64(s0, s1, s2, s3)
        i = np.intp(u & np.uint64(0xFF))
        x = _unit(u) * ZIG_X[i]
        if x < ZIG_X[i + 1]:
            return (-x if (u >> np.uint64(8)) & np.uint64(1) else x), s0, s1, s2, s3
        z, s0, s1, s2, s3 = _normal_rare(u, s0, s1, s2, s3)
        if z == z:
            return z, s0, s1, s2, s3


@_jit
def standard_normals(s: np.ndarray, n: int) -> np.ndarray:
    """``n`` standard normal numbers (float64) from the xoshiro256** state ``s`` (uint64[4], advanced in place)."""
    out = np.empty(n)
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for i in range(n):
        out[i], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return out


# ---------------------------------------------------------------------------------------- measurement
@numba.extending.intrinsic
def _sqrt32(typingctx: Any, x: Any) -> Any:
    """IEEE square root of a float32 as the LLVM intrinsic (numba calls libm's ``sqrtf``, which LLVM does not
    vectorise); the same correctly rounded result."""
    from llvmlite import ir

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.call(builder.module.declare_intrinsic("llvm.sqrt", [ir.FloatType()]), args)

    return numba.types.float32(numba.types.float32), codegen


@_jit_inline
def _measured(e: np.float32, z: np.float32, a2: np.float32, b2: np.float32, c2: np.float32, inv_e: np.float32,
              inv_lsb: np.float32, lsb: np.float32) -> np.float32:
    """E_T + z sigma(E_T), sigma^2 = a^2 E_T / cosh + b^2 / cosh^2 + c^2 E_T^2, negative -> 0, floored to the LSB
    (float32)."""
    et = max(e, np.float32(1e-6))
    var = a2 * et * inv_e
    var += b2 * inv_e * inv_e
    var += c2 * et * et
    m = z * _sqrt32(var)
    m += e
    m = max(m, np.float32(0.0))
    return np.floor(m * inv_lsb) * lsb


@_jit
def _measure_row(e64: np.ndarray, h64: np.ndarray, z: np.ndarray, res: np.ndarray, frac_mean: np.float32,
                 frac_sd: np.float32, lsb: np.float32, inv_lsb: np.float32, had_z_all: bool, em_out: np.ndarray,
                 had_out: np.ndarray, grid_out: np.ndarray) -> None:
    """One crossing's towers, every one of them (no branch, vectorised): measured EM and hadronic E_T from the true
    sums ``e64``/``h64`` and the tower's numbers ``z`` (rows: ECAL z, z_f, HCAL/HF z), 0 for a tower not hit;
    ``res`` rows: 1/cosh(eta), the EM a^2, b^2, c^2 and the hadronic a^2, b^2, c^2 per tower."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for t in range(len(e64)):
        e = e64[t]
        h = h64[t]
        hit = np.float32(e + h != 0.0)
        drawn = np.float32((h > 0.0) | had_z_all)  # z_f and the HCAL/HF z drawn
        em = np.float32(e)
        had = np.float32(h)
        f = z[1, t] * frac_sd
        f += frac_mean
        f = min(max(f, zero), one)
        f *= had  # 0 without hadronic deposit
        em += f
        had -= f
        inv_e = res[0, t]
        q_em = _measured(em, z[0, t], res[1, t], res[2, t], res[3, t], inv_e, inv_lsb, lsb)
        q_had = _measured(had, z[2, t], res[4, t], res[5, t], res[6, t], inv_e, inv_lsb, lsb)
        q_had *= drawn
        q_em *= hit
        q_had *= hit
        em_out[t] = q_em
        had_out[t] = q_had
        grid_out[t] = q_em + q_had


@_jit
def measure_dense(dep: np.ndarray, size: int, out_base: int, n_towers: int, inv_cosh: np.ndarray,
                  res_em: np.ndarray, res_had: np.ndarray, frac_mean: np.float32, frac_sd: np.float32,
                  lsb: np.float32, had_z_all: bool, state: np.ndarray, em_out: np.ndarray, had_out: np.ndarray,
                  grid_out: np.ndarray) -> None:
    """Measure the first ``size`` columns of the true deposit sums ``dep`` ([EM, hadronic], crossing * n_towers +
    tower; float64) into ``em_out``, ``had_out`` and their sum ``grid_out`` (float32, from ``out_base`` on) and
    zero those columns of ``dep`` for the next use. Towers without a deposit read 0. A tower with one: the
    hadronic share ``clip(mean + sd z_f, 0, 1)`` showers in the ECAL, then each part is smeared, E_T + z sigma(E_T)
    with sigma^2 = a^2 E_T / cosh + b^2 / cosh^2 + c^2 E_T^2 (``res_*``: rows a^2, b^2, c^2 per tower), negative
    -> 0, and floored to the trigger LSB (float32 throughout).

    Standard normal numbers (:func:`_normal`, xoshiro256** state ``state``, advanced in place), per crossing and
    per tower hit in row order: the ECAL z, then, if the tower has a hadronic deposit, z_f and the HCAL/HF z. A
    tower without hadronic deposit reads hadronic 0, unless ``had_z_all`` (the HCAL/HF noise can reach one LSB):
    then every tower hit takes all three numbers and its hadronic noise is measured.

    The smearing acts on the tower's sum over all interactions of the crossing, where the stochastic term adds up
    exactly as per particle; a resolution drawn per particle and clipped at zero would add energy to every soft
    particle, and a log-normal one grows a long upper tail for the many sub-GeV towers of a 60-pileup crossing
    (both inflate the missing-E_T tail).

    Crossing by crossing, without data-dependent branches (half the towers are hit and half of those have a
    hadronic deposit, in no predictable pattern: a branch would be mispredicted half the time): one pass lists
    the towers hit and counts the numbers needed, the numbers are drawn and handed to their towers, and
    :func:`_measure_row` measures every tower of the crossing in vector instructions."""
    inv_lsb = np.float32(1.0) / lsb
    hit = np.empty(n_towers, np.int64)
    draws = np.zeros(3 * n_towers + 2, np.float32)  # + 2: read (unused, finite) past the last tower's numbers
    z = np.zeros((3, n_towers), np.float32)  # per tower its numbers (towers not hit: finite leftovers, unused)
    res = np.empty((7, n_towers), np.float32)
    res[0] = inv_cosh
    res[1:4] = res_em
    res[4:7] = res_had
    em_dep = dep[0]
    had_dep = dep[1]
    all_z = np.int64(had_z_all)
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for i0 in range(0, size, n_towers):
        o0 = out_base + i0
        n_hit = 0
        n_z = 0
        for t in range(n_towers):
            hit[n_hit] = t
            e = em_dep[i0 + t]
            h = had_dep[i0 + t]
            n_hit += e + h != 0.0
            n_z += (h > 0.0) * 2
        n_z = 3 * n_hit if had_z_all else n_z + n_hit
        for k in range(n_z):
            x, s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
            draws[k] = x
        j = 0
        for k in range(n_hit):  # each tower hit: the ECAL z, then z_f and the HCAL/HF z if drawn
            t = hit[k]
            z[0, t] = draws[j]
            z[1, t] = draws[j + 1]
            z[2, t] = draws[j + 2]
            j += 1 + 2 * (np.int64(had_dep[i0 + t] > 0.0) | all_z)
        _measure_row(em_dep[i0 : i0 + n_towers], had_dep[i0 : i0 + n_towers], z, res, frac_mean, frac_sd, lsb,
                     inv_lsb, had_z_all, em_out[o0 : o0 + n_towers], had_out[o0 : o0 + n_towers],
                     grid_out[o0 : o0 + n_towers])
        em_dep[i0 : i0 + n_towers] = 0.0
        had_dep[i0 : i0 + n_towers] = 0.0
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@_jit_inline
def _wrap_index(i: int, n: int) -> int:
    """``i % n``, without a division for -n <= i < 2 n (phi offsets smaller than the ring)."""
    if 0 <= i < n:
        return i
    j = i + n if i < 0 else i - n
    if 0 <= j < n:
        return j
    return i % n


@_jit
def disc_sums(grid: np.ndarray, ev: np.ndarray, ie: np.ndarray, ip: np.ndarray, order: np.ndarray, de: np.ndarray,
              dp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per jet (crossing ``ev``, axis tower ``ie``, ``ip``): the E_T of the towers of ``grid`` (crossing, eta, phi)
    at offsets (``de``, ``dp``) from the axis that no earlier jet of the same crossing in ``order`` (jets of one
    crossing together) took, and how many towers it took
    (towers outside the eta range count as absent; phi wraps)."""
    n_eta, n_phi = grid.shape[1], grid.shape[2]
    # towers taken in the current crossing (``order`` serves a crossing's jets together): one (eta, phi) map,
    # cleared tower by tower when the crossing changes (a fresh (crossing, eta, phi) array cost a page fault per
    # 4 kB)
    taken = np.zeros(n_eta * n_phi, np.bool_)
    used = np.empty(n_eta * n_phi, np.int64)
    n_used = 0
    et = np.zeros(len(ev))
    n_tow = np.zeros(len(ev))
    prev = -1
    for o in range(len(order)):
        j = order[o]
        c = ev[j]
        if c != prev:
            for u in range(n_used):
                taken[used[u]] = False
            n_used = 0
            prev = c
        s = 0.0
        k = 0
        for d in range(len(de)):
            te = ie[j] + de[d]
            if te < 0 or te >= n_eta:
                continue
            tp = _wrap_index(ip[j] + dp[d], n_phi)
            flat = te * n_phi + tp
            if not taken[flat]:
                taken[flat] = True
                used[n_used] = flat
                n_used += 1
                s += grid[c, te, tp]
                k += 1
        et[j] = s
        n_tow[j] = k
    return et, n_tow


@_jit
def serving_order(ev: np.ndarray, key1: np.ndarray, key2: np.ndarray, key3: np.ndarray) -> np.ndarray:
    """``np.lexsort((key3, key2, key1, ev))`` for ``ev`` ascending (objects grouped by crossing): per crossing, the
    indices sorted by key1, then key2, then key3, then index (stable), by insertion (a crossing holds few)."""
    n = len(ev)
    order = np.arange(n)
    lo = 0
    while lo < n:
        hi = lo + 1
        while hi < n and ev[hi] == ev[lo]:
            hi += 1
        for a in range(lo + 1, hi):
            x = order[a]
            b = a - 1
            while b >= lo:
                y = order[b]
                if key1[y] < key1[x] or (key1[y] == key1[x] and (key2[y] < key2[x] or (
                        key2[y] == key2[x] and (key3[y] < key3[x] or (key3[y] == key3[x] and y < x))))):
                    break
                order[b + 1] = y
                b -= 1
            order[b + 1] = x
        lo = hi
    return order


@_jit
def met_sums(grid: np.ndarray, thr_row: np.ndarray, cos_p: np.ndarray, sin_p: np.ndarray, hf_row0: np.ndarray,
             hf_thr: np.ndarray, be: int, bp: int, cos_b: np.ndarray, sin_b: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per crossing of ``grid`` (crossing, eta, phi): -sum of E_T (cos phi, sin phi) over towers >= their row's
    threshold ``thr_row`` (inf: not summed), plus over HF blocks of ``be`` x ``bp`` towers (block rows starting at
    ``hf_row0``, thresholds ``hf_thr``; phi blocks from column 0, directions ``cos_b``, ``sin_b``)."""
    n, n_eta, n_phi = grid.shape
    mex = np.zeros(n)
    mey = np.zeros(n)
    for c in range(n):
        x = 0.0
        y = 0.0
        for r in range(n_eta):
            t = thr_row[r]
            if t == np.inf:
                continue
            for p in range(n_phi):
                v = grid[c, r, p]
                if v >= t:
                    x += v * cos_p[p]
                    y += v * sin_p[p]
        for b in range(len(hf_row0)):
            r0 = hf_row0[b]
            for q in range(len(cos_b)):
                v = 0.0
                for dr in range(be):
                    for dp in range(bp):
                        v += grid[c, r0 + dr, q * bp + dp]
                if v >= hf_thr[b]:
                    x += v * cos_b[q]
                    y += v * sin_b[q]
        mex[c] = -x
        mey[c] = -y
    return mex, mey


@_jit
def patch_medians(grid: np.ndarray, row0: np.ndarray, n_rows: np.ndarray, k: int, npf: int) -> np.ndarray:
    """Per crossing and band b: the median of the sums of ``k`` x ``k`` tower patches over the row ranges
    ``row0[b, s] .. + n_rows[b, s]`` (s = the two sides; a multiple of ``k``) and phi columns ``0 .. npf``."""
    n = grid.shape[0]
    n_b = row0.shape[0]
    out = np.zeros((n, n_b))
    for b in range(n_b):
        n_patch = 0
        for s in range(row0.shape[1]):
            n_patch += (n_rows[b, s] // k) * (npf // k)
        if n_patch == 0:
            continue
        buf = np.empty(n_patch, np.float32)
        for c in range(n):
            i = 0
            for s in range(row0.shape[1]):
                for pr in range(n_rows[b, s] // k):
                    for pc in range(npf // k):
                        v = np.float32(0.0)
                        for dr in range(k):
                            for dc in range(k):
                                v += grid[c, row0[b, s] + pr * k + dr, pc * k + dc]
                        buf[i] = v
                        i += 1
            out[c, b] = np.median(buf)
    return out


@_jit
def local_maxima(grid: np.ndarray, seed: float, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crossing, row, column) of the towers of ``grid`` (crossing, eta rows, phi) in rows ``r0 .. r1 - 1``,
    >= ``seed``, that are local maxima of their 3 x 3 neighbourhood: >= the neighbours before them (lower eta, or
    same eta and lower phi), > those after (ties resolved once); rows outside ``r0 .. r1 - 1`` count as 0, phi
    wraps. In (crossing, row, column) order."""
    n, n_p = grid.shape[0], grid.shape[2]
    ev = []
    ie = []
    ip = []
    for c in range(n):
        for r in range(r0, r1):
            for p in range(n_p):
                v = grid[c, r, p]
                if not v >= seed:
                    continue
                ok = True
                for dr in range(-1, 2):
                    rr = r + dr
                    for dp in range(-1, 2):
                        if dr == 0 and dp == 0:
                            continue
                        u = grid[c, rr, _wrap_index(p + dp, n_p)] if r0 <= rr < r1 else np.float32(0.0)
                        before = dr < 0 or (dr == 0 and dp < 0)
                        if (before and not v >= u) or (not before and not v > u):
                            ok = False
                            break
                    if not ok:
                        break
                if ok:
                    ev.append(c)
                    ie.append(r)
                    ip.append(p)
    return np.array(ev, np.int64), np.array(ie, np.int64), np.array(ip, np.int64)



@_jit
def towers_above(grid: np.ndarray, row_ok: np.ndarray, threshold: float, cos_p: np.ndarray, sin_p: np.ndarray,
                 sinh_e: np.ndarray, cosh_e: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The towers of ``grid`` (crossing, eta, phi) >= ``threshold`` in rows ``row_ok`` as massless four-vectors at
    the tower centres: (count per crossing, px, py, pz, E), in (crossing, eta, phi) order."""
    n, n_eta, n_phi = grid.shape
    counts = np.zeros(n, np.int64)
    for c in range(n):
        k = 0
        for r in range(n_eta):
            if row_ok[r]:
                for p in range(n_phi):
                    k += grid[c, r, p] >= threshold
        counts[c] = k
    total = counts.sum()
    px = np.empty(total)
    py = np.empty(total)
    pz = np.empty(total)
    e = np.empty(total)
    i = 0
    for c in range(n):
        for r in range(n_eta):
            if not row_ok[r]:
                continue
            for p in range(n_phi):
                v = grid[c, r, p]
                if v >= threshold:
                    et = np.float64(v)
                    px[i] = et * cos_p[p]
                    py[i] = et * sin_p[p]
                    pz[i] = et * sinh_e[r]
                    e[i] = et * cosh_e[r]
                    i += 1
    return counts, px, py, pz, e


@_jit
def window_sums(grid: np.ndarray, ev: np.ndarray, ie: np.ndarray, ip: np.ndarray, half_eta: int, half_phi: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per (crossing ``ev``, tower ``ie``, ``ip``): the sum of ``grid`` (crossing, eta, phi) over the
    (2 half_eta + 1) x (2 half_phi + 1) towers around it (float32) (phi wraps; rows outside the grid are absent) and how many
    towers that window holds."""
    n_eta, n_phi = grid.shape[1], grid.shape[2]
    out = np.zeros(len(ev), np.float32)
    n_in = np.zeros(len(ev), np.int64)
    for i in range(len(ev)):
        s = np.float32(0.0)
        k = 0
        for te in range(ie[i] - half_eta, ie[i] + half_eta + 1):
            if te < 0 or te >= n_eta:
                continue
            for d in range(-half_phi, half_phi + 1):
                s += grid[ev[i], te, _wrap_index(ip[i] + d, n_phi)]
                k += 1
        out[i] = s
        n_in[i] = k
    return out, n_in


@_jit
def _rap_phi(px: float, py: float, pz: float, e: float) -> tuple[float, float]:
    """Rapidity and phi in [0, 2 pi) as FastJet's PseudoJet computes them."""
    pt2 = px * px + py * py
    phi = 0.0 if pt2 == 0.0 else np.arctan2(py, px)
    if phi < 0.0:
        phi += 2 * np.pi
    if phi >= 2 * np.pi:
        phi -= 2 * np.pi
    m2 = max(0.0, (e + pz) * (e - pz) - pt2)
    e_plus = e + abs(pz)
    rap = 0.5 * np.log((pt2 + m2) / (e_plus * e_plus))
    if pz > 0:
        rap = -rap
    return rap, phi


@_jit
def _tile_of(rap: float, phi: float, y0: float, ty: float, nty: int, tp: float, ntp: int) -> int:
    a = int((rap - y0) / ty) if rap > y0 else 0
    a = min(max(a, 0), nty - 1)
    b = min(int(phi / tp), ntp - 1)
    return a * ntp + b


@_jit
def _tree_update(i: int, dij: np.ndarray, tree: np.ndarray) -> None:
    """After ``dij[i]`` changed: the tournament tree over ``dij`` (``tree[1]``: the index of the smallest, the
    lowest index among equal ones - what a scan in index order finds) updated along i's path, O(log n)."""
    node = (len(tree) // 2 + i) >> 1
    while node >= 1:
        a = tree[2 * node]
        b = tree[2 * node + 1]
        tree[node] = b if dij[b] < dij[a] else a
        node >>= 1


@_jit
def _set_dij(i: int, nn: np.ndarray, nndist: np.ndarray, kt2inv: np.ndarray, dij: np.ndarray, tree: np.ndarray
             ) -> None:
    j = nn[i]
    dij[i] = nndist[i] * (min(kt2inv[i], kt2inv[j]) if j >= 0 else kt2inv[i])
    _tree_update(i, dij, tree)


@_jit
def _nearest_tiled(i: int, rap: np.ndarray, phi: np.ndarray, tile: np.ndarray, head: np.ndarray, nxt: np.ndarray,
                   nty: int, ntp: int, r2: float, nn: np.ndarray, nndist: np.ndarray, kt2inv: np.ndarray,
                   dij: np.ndarray, tree: np.ndarray) -> None:
    nn[i] = -1
    nndist[i] = r2
    a0, b0 = tile[i] // ntp, tile[i] % ntp
    for a in range(max(a0 - 1, 0), min(a0 + 2, nty)):
        for db in range(-1, 2):
            k = head[a * ntp + (b0 + db) % ntp]
            while k >= 0:
                if k != i:
                    dphi = abs(phi[i] - phi[k])
                    if dphi > np.pi:
                        dphi = 2 * np.pi - dphi
                    dy = rap[i] - rap[k]
                    d = dphi * dphi + dy * dy
                    if d < nndist[i] or (d == nndist[i] and nn[i] >= 0 and k < nn[i]):
                        nndist[i] = d
                        nn[i] = k
                k = nxt[k]
    _set_dij(i, nn, nndist, kt2inv, dij, tree)


@_jit
def _tile_remove(i: int, tile: np.ndarray, head: np.ndarray, nxt: np.ndarray, prv: np.ndarray) -> None:
    if prv[i] >= 0:
        nxt[prv[i]] = nxt[i]
    else:
        head[tile[i]] = nxt[i]
    if nxt[i] >= 0:
        prv[nxt[i]] = prv[i]


@_jit
def _tile_insert(i: int, t: int, tile: np.ndarray, head: np.ndarray, nxt: np.ndarray, prv: np.ndarray) -> None:
    tile[i] = t
    prv[i] = -1
    nxt[i] = head[t]
    if head[t] >= 0:
        prv[head[t]] = i
    head[t] = i


@_jit
def anti_kt(counts: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, radius: float,
            pt_min: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Anti-kT (E-scheme recombination, rapidity-phi distance: FastJet's ``antikt_algorithm``) of the particles
    of each crossing (``counts`` per crossing, in order); returns (crossing, px, py, pz) of the inclusive jets with
    pT >= ``pt_min`` in the order the clustering completes them. FastJet's N2Tiled strategy: nearest neighbours
    searched in the 3 x 3 tiles (>= R wide) around a particle; the smallest distance over all from a tournament
    tree (the same pair as FastJet's scan: the lowest index among equal distances), O(n log n) per crossing."""
    r2 = radius * radius
    y0, ty = -6.0, radius
    nty = int(12.0 / ty) + 1
    ntp = max(3, int(2 * np.pi / radius))
    tp = 2 * np.pi / ntp
    head = np.full(nty * ntp, -1, np.int64)
    cap = max(1, counts.max()) if len(counts) else 1
    jpx = np.empty(cap)
    jpy = np.empty(cap)
    jpz = np.empty(cap)
    je = np.empty(cap)
    rap = np.empty(cap)
    phi = np.empty(cap)
    kt2inv = np.empty(cap)
    nn = np.empty(cap, np.int64)
    nndist = np.empty(cap)
    tile = np.empty(cap, np.int64)
    nxt = np.empty(cap, np.int64)
    prv = np.empty(cap, np.int64)
    active = np.zeros(cap, np.bool_)
    n_leaf = 1
    while n_leaf < cap:
        n_leaf *= 2
    dij = np.full(n_leaf, np.inf)  # smallest distance of each particle (inf: clustered away, or no particle)
    tree = np.empty(2 * n_leaf, np.int64)  # tournament tree over dij: leaves n_leaf + i hold i
    for i in range(n_leaf):
        tree[n_leaf + i] = i
    n_out = 0  # at most one jet per particle
    out_ev = np.empty(len(px), np.int64)
    out_px = np.empty(len(px))
    out_py = np.empty(len(px))
    out_pz = np.empty(len(px))
    first = 0
    for c in range(len(counts)):
        m = counts[c]
        for i in range(m):
            jpx[i] = px[first + i]
            jpy[i] = py[first + i]
            jpz[i] = pz[first + i]
            je[i] = e[first + i]
            rap[i], phi[i] = _rap_phi(jpx[i], jpy[i], jpz[i], je[i])
            kt2inv[i] = 1.0 / (jpx[i] * jpx[i] + jpy[i] * jpy[i])
            active[i] = True
        first += m
        for i in range(m - 1, -1, -1):  # lists hold increasing indices
            _tile_insert(i, _tile_of(rap[i], phi[i], y0, ty, nty, tp, ntp), tile, head, nxt, prv)
        for i in range(m, n_leaf):
            dij[i] = np.inf
        for node in range(n_leaf - 1, 0, -1):  # every particle's dij is set below (each updates its path)
            tree[node] = tree[2 * node]
        for i in range(m):
            _nearest_tiled(i, rap, phi, tile, head, nxt, nty, ntp, r2, nn, nndist, kt2inv, dij, tree)
        alive = m
        while alive > 0:
            i = tree[1]
            j = nn[i]
            # tiles whose particles may have had i (or j) as neighbour: 3 x 3 around them
            t_old_i = tile[i]
            t_old_j = tile[j] if j >= 0 else -1
            _tile_remove(i, tile, head, nxt, prv)
            active[i] = False
            dij[i] = np.inf
            _tree_update(i, dij, tree)
            if j >= 0:  # merge i and j into slot min(i, j) (E-scheme)
                _tile_remove(j, tile, head, nxt, prv)
                active[j] = False
                dij[j] = np.inf
                _tree_update(j, dij, tree)
                keep = min(i, j)
                jpx[keep] = jpx[i] + jpx[j]
                jpy[keep] = jpy[i] + jpy[j]
                jpz[keep] = jpz[i] + jpz[j]
                je[keep] = je[i] + je[j]
                rap[keep], phi[keep] = _rap_phi(jpx[keep], jpy[keep], jpz[keep], je[keep])
                kt2inv[keep] = 1.0 / (jpx[keep] * jpx[keep] + jpy[keep] * jpy[keep])
                active[keep] = True
                _tile_insert(keep, _tile_of(rap[keep], phi[keep], y0, ty, nty, tp, ntp), tile, head, nxt, prv)
                alive -= 1
                _nearest_tiled(keep, rap, phi, tile, head, nxt, nty, ntp, r2, nn, nndist, kt2inv, dij, tree)
                t_new = tile[keep]
            else:
                if jpx[i] * jpx[i] + jpy[i] * jpy[i] >= pt_min * pt_min:
                    out_ev[n_out] = c
                    out_px[n_out] = jpx[i]
                    out_py[n_out] = jpy[i]
                    out_pz[n_out] = jpz[i]
                    n_out += 1
                alive -= 1
                keep = -1
                t_new = -1
            # update the neighbours of every particle in the 3 x 3 tiles around the changed ones
            for t0 in (t_old_i, t_old_j, t_new):
                if t0 < 0:
                    continue
                a0, b0 = t0 // ntp, t0 % ntp
                for a in range(max(a0 - 1, 0), min(a0 + 2, nty)):
                    for db in range(-1, 2):
                        k = head[a * ntp + (b0 + db) % ntp]
                        while k >= 0:
                            if k != keep:
                                if nn[k] == i or (j >= 0 and nn[k] == j):
                                    _nearest_tiled(k, rap, phi, tile, head, nxt, nty, ntp, r2, nn, nndist, kt2inv, dij,
                                                   tree)
                                elif keep >= 0:
                                    dphi = abs(phi[k] - phi[keep])
                                    if dphi > np.pi:
                                        dphi = 2 * np.pi - dphi
                                    dy = rap[k] - rap[keep]
                                    d = dphi * dphi + dy * dy
                                    if d < nndist[k] or (d == nndist[k] and nn[k] >= 0 and keep < nn[k]):
                                        nndist[k] = d
                                        nn[k] = keep
                                        _set_dij(k, nn, nndist, kt2inv, dij, tree)
                            k = nxt[k]
        for i in range(m):  # empty the tiles for the next crossing
            if active[i]:
                _tile_remove(i, tile, head, nxt, prv)
                active[i] = False
    return out_ev[:n_out].copy(), out_px[:n_out].copy(), out_py[:n_out].copy(), out_pz[:n_out].copy()
