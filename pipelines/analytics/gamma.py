"""Dealer gamma exposure (GEX) for a Deribit-style option chain: pure numpy, arrays in, arrays out.

The method is the project's spec (``../shared/docs/gamma.md``):

* Black-76 with r = 0 on each row's own forward ``F`` (Deribit prices and quotes IV on the forward of the
  expiry, not on the index), ``sigma`` = implied vol as a fraction, ``T`` in years (ACT/365):

      d1  = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt(T))
      Gamma_F = phi(d1) / (F sigma sqrt(T))                       per 1 USD of F, per 1-BTC option
      GEX = s * OI * contract_size * F * phi(d1) * 0.01 / (sigma sqrt(T))
          = s * Gamma_F * OI * contract_size * F^2 * 0.01         USD of BTC dealers trade per 1% move

  with ``s`` = +1 for calls / -1 for puts when dealers are long calls and short puts (the default), and the
  opposite otherwise.
* Profile: for a hypothetical spot level ``L`` every forward moves by the same ratio ``L/S``; sigma, T and OI are
  held fixed.  The zero-gamma ("gamma flip") level is the sign change of that profile nearest to spot.

Units: strikes, forwards, spots and levels in USD; open interest in contracts (BTC on Deribit, contract size 1);
``iv`` a fraction (Deribit's ``mark_iv`` / 100); ``expiry_years`` in years; every GEX figure in USD per 1% move.

Rows that cannot be priced (see :func:`pricable_mask`) are dropped by every aggregate here rather than turned
into NaN, so one bad quote never poisons a total; callers count them with the mask.

No pandas / scipy / Dagster / DuckDB imports on purpose: this module must be importable from a notebook or a
benchmark without the warehouse stack.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GammaRegimes",
    "RegimeBand",
    "black76_gamma",
    "call_wall",
    "gamma_regimes",
    "gex_by_strike",
    "gex_profile",
    "gex_profile_crossings",
    "gex_within_band",
    "nearest_to_spot",
    "option_gex",
    "pricable_mask",
    "put_wall",
    "regime_bands",
    "zero_gamma_levels",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)

# Working-set bound of one level x option block of the profile kernel.  1 MiB (131,072 float64) keeps the block
# in L2 (1 MiB per core on the project's AMD EPYC) so the passes over it besides the exp stay cheap;
# bench/gamma_kernel.py measures the kernel against a bare np.exp over the same number of elements.
DEFAULT_BLOCK_BYTES = 1 << 20
# Options per block row (see _Kernel.profile): long rows amortise numpy's per-row cost of broadcast operations.
_OPT_ROW = 16_384

# Zero-gamma scan grid.  The profile is a sum of Gaussians in x = ln(L/S): option i contributes
# w_i * exp(-(a_i x + c_i)^2 / 2) whose width in x is 1 / a_i = sigma_i sqrt(T_i).  A grid step of at most a
# quarter of the narrowest width resolves every bump, so no pair of sign changes can hide between two grid
# points unless the profile is tangent to zero (not a sign change anyway).  At least 4,001 log-spaced levels
# (step ~2.7e-4 in ln L, ~$2.5 at a $9,000 spot over 0.5x..1.5x); more only for chains with very short-dated,
# low-vol options; capped so the scan stays bounded (~0.1 s per 100 options at the cap).
_SCAN_MIN_LEVELS = 4001
_SCAN_MAX_LEVELS = 200_001
_SCAN_STEPS_PER_WIDTH = 4.0

# Crossing refinement target: relative 1e-12 of the level (~1e-8 USD at 10k) - far under the $1 the spec asks.
_ROOT_RTOL = 1e-12
_ROOT_MAXITER = 200


class RegimeBand(NamedTuple):
    """A contiguous price range (USD) where the profile has one sign.

    From :func:`regime_bands`, ``low``/``high`` are the first/last grid levels of a same-sign run; from
    :func:`gamma_regimes`, they are the exact edges (range ends and refined crossings).
    """

    low: float
    high: float
    regime: str  # 'short_gamma' (profile < 0) or 'long_gamma' (profile > 0)


# --------------------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------------------


def _as_float_1d(name: str, value: ArrayLike) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _as_bool_1d(name: str, value: ArrayLike) -> BoolArray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr
    # Refuse e.g. an array of 'C'/'P' strings, which would all be truthy and silently turn puts into calls.
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be booleans (True = call), got dtype {arr.dtype}")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must contain only True/False (or 1/0)")
    return arr.astype(bool)


def _check_lengths(**arrays: np.ndarray) -> int:
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"option arrays must all have the same length; got {detail}")
    return next(iter(lengths.values()), 0)


def _positive_scalar(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _chain(
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray, FloatArray, FloatArray]:
    k = _as_float_1d("strike", strike)
    t = _as_float_1d("expiry_years", expiry_years)
    c = _as_bool_1d("is_call", is_call)
    oi = _as_float_1d("open_interest", open_interest)
    sig = _as_float_1d("iv", iv)
    f = _as_float_1d("forward", forward)
    _check_lengths(strike=k, expiry_years=t, is_call=c, open_interest=oi, iv=sig, forward=f)
    return k, t, c, oi, sig, f


def _pricable(k: FloatArray, t: FloatArray, oi: FloatArray, sig: FloatArray, f: FloatArray) -> BoolArray:
    # NaN compares False with '>', so "x > 0" alone already drops NaN; isfinite also drops +inf (e.g. T = inf
    # would give sigma*sqrt(T) = inf and a silent 0, an OI of inf an inf total).
    mask = np.isfinite(k) & (k > 0)
    for arr in (t, oi, sig, f):
        mask &= np.isfinite(arr) & (arr > 0)
    return mask


# --------------------------------------------------------------------------------------------------------------
# per-option quantities
# --------------------------------------------------------------------------------------------------------------


def pricable_mask(
    strike: ArrayLike,
    expiry_years: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
) -> BoolArray:
    """True for rows every function here uses; False for rows they leave out.

    A row is left out when T <= 0 (expired, e.g. an 08:00 UTC expiry on a snapshot taken after 08:00),
    OI <= 0, iv <= 0, or any of strike / T / OI / iv / forward is NaN, infinite or non-positive.
    ``(~pricable_mask(...)).sum()`` is the number of rows excluded.
    """
    k = _as_float_1d("strike", strike)
    t = _as_float_1d("expiry_years", expiry_years)
    oi = _as_float_1d("open_interest", open_interest)
    sig = _as_float_1d("iv", iv)
    f = _as_float_1d("forward", forward)
    _check_lengths(strike=k, expiry_years=t, open_interest=oi, iv=sig, forward=f)
    return _pricable(k, t, oi, sig, f)


def black76_gamma(F: ArrayLike, K: ArrayLike, T: ArrayLike, iv: ArrayLike) -> FloatArray | float:
    """Black-76 gamma with r = 0: d(delta)/dF per 1 USD of forward, per one unit of underlying.

    ``F``, ``K`` in USD, ``T`` in years, ``iv`` a fraction; broadcast like numpy.  Element-wise, so an input
    that cannot be priced (T <= 0, iv <= 0, F or K <= 0, NaN) gives NaN for that element - the aggregates
    never call this on such rows.  For a non-zero rate r on spot S, Black-Scholes gamma is
    ``exp(r T) * black76_gamma(S exp(r T), K, T, iv)`` (discount the price, then dF/dS = exp(r T) twice).
    """
    f = np.asarray(F, dtype=np.float64)
    k = np.asarray(K, dtype=np.float64)
    t = np.asarray(T, dtype=np.float64)
    s = np.asarray(iv, dtype=np.float64)
    ok = (f > 0) & (k > 0) & (t > 0) & (s > 0) & np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        vol = s * np.sqrt(t)
        d1 = (np.log(f / k) + 0.5 * vol * vol) / vol
        g = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI / (f * vol)
    g = np.where(ok, g, np.nan)
    return float(g) if g.ndim == 0 else g


def _signs(c: BoolArray, dealer_long_calls: bool) -> FloatArray:
    s = np.where(c, 1.0, -1.0)
    return s if dealer_long_calls else -s


def option_gex(
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
    *,
    contract_size: float = 1.0,
    dealer_long_calls: bool = True,
) -> FloatArray:
    """Signed GEX of each row at its own forward (USD per 1% move); 0.0 for rows :func:`pricable_mask` drops.

    Same length and order as the input, so callers can aggregate it any way they like, e.g. by
    (expiry, strike).
    """
    k, t, c, oi, sig, f = _chain(strike, expiry_years, is_call, open_interest, iv, forward)
    cs = _positive_scalar("contract_size", contract_size)
    out = np.zeros(len(k))
    m = _pricable(k, t, oi, sig, f)
    if not m.any():
        return out
    vol = sig[m] * np.sqrt(t[m])
    d1 = (np.log(f[m] / k[m]) + 0.5 * vol * vol) / vol
    out[m] = _signs(c[m], dealer_long_calls) * oi[m] * (cs * 0.01 * _INV_SQRT_2PI) * f[m] * np.exp(-0.5 * d1 * d1) / vol
    return out


def gex_by_strike(
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
    *,
    contract_size: float = 1.0,
    dealer_long_calls: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """GEX per strike, summed over expiries, at today's forwards.

    Returns ``(strikes, call_gex, put_gex, net_gex)``: the sorted unique strikes (USD) of the pricable rows and,
    per strike, the call, put and net (= call + put) GEX in USD per 1% move.  Unpricable rows are left out
    (a strike that only has unpricable rows does not appear).
    """
    k, t, c, oi, sig, f = _chain(strike, expiry_years, is_call, open_interest, iv, forward)
    g = option_gex(k, t, c, oi, sig, f, contract_size=contract_size, dealer_long_calls=dealer_long_calls)
    m = _pricable(k, t, oi, sig, f)
    strikes, idx = np.unique(k[m], return_inverse=True)
    gm, cm = g[m], c[m]
    n = len(strikes)
    # bincount sums in input order per bin: one pass, no Python loop over strikes.
    call_gex = np.bincount(idx, weights=np.where(cm, gm, 0.0), minlength=n)
    put_gex = np.bincount(idx, weights=np.where(cm, 0.0, gm), minlength=n)
    return strikes, call_gex, put_gex, call_gex + put_gex


# --------------------------------------------------------------------------------------------------------------
# profile kernel
# --------------------------------------------------------------------------------------------------------------


class _Kernel:
    """Per-option constants of the fast profile form, pricable rows only.

    With x = ln(L/S) and r = L/S, option i contributes ``w_i * r * phi(a_i x + c_i)`` where
    a = 1/(sigma sqrt T), c = a (ln(F/K) + sigma^2 T / 2), w = s OI cs F 0.01 a.  Stored pre-scaled:
    a' = a/sqrt(2), c' = c/sqrt(2) so that (a' x + c')^2 = d1^2 / 2, and |w'| = |w| / sqrt(2 pi) so that one
    option's term is exactly +-|w'| exp(-(a' x + c')^2).  The exponent is a polynomial in x whose coefficients
    belong to the option: -(a' x + c')^2 = (-a'^2) x^2 + (-2 a' c') x + (-c'^2), so a block's exponents are one
    matrix product, [x^2, x, 1] (levels x 3) times ``e`` (3 x options), written by BLAS in one pass; then the exp
    in place and a gemv: three passes over the block where the element-wise form took six (multiply, add, square,
    negate, exp, gemv), which kept the kernel at 2.2-2.8x of a bare exp on a CPU whose exp is fast (AVX-512;
    README, issue 17). Expanding the square costs accuracy where a' x and c' cancel: the exponent's absolute error
    is a few ulps of (a' x)^2, ~1e-12 for a one-hour option at 0.5x spot (the tests hold the profile to the oracle
    at 1e-9 and across block sizes at 1e-12).
    Options are stored positive weights first (``n_pos`` of them) and the profile is (sum of the positive
    terms) - (sum of the negative terms), each summed on its own with the same blocking and buffers: calls and
    puts with the same inputs cancel exactly, and no rounding residue of a mixed-sign sum (e.g. BLAS fused
    multiply-adds) appears in a profile that is exactly 0.
    """

    __slots__ = ("e", "w", "n_pos", "spot", "min_width", "n")

    def __init__(
        self,
        spot: float,
        strike: ArrayLike,
        expiry_years: ArrayLike,
        is_call: ArrayLike,
        open_interest: ArrayLike,
        iv: ArrayLike,
        forward: ArrayLike,
        contract_size: float,
        dealer_long_calls: bool,
    ) -> None:
        self.spot = _positive_scalar("spot", spot)
        k, t, c, oi, sig, f = _chain(strike, expiry_years, is_call, open_interest, iv, forward)
        cs = _positive_scalar("contract_size", contract_size)
        m = _pricable(k, t, oi, sig, f)
        # Positive-weight rows first: calls under the standard convention, puts otherwise.
        pos = c[m] if dealer_long_calls else ~c[m]
        rows = np.flatnonzero(m)
        order = np.concatenate((rows[pos], rows[~pos]))
        vol = sig[order] * np.sqrt(t[order])
        a = 1.0 / vol
        c_ = _SQRT_HALF * a * (np.log(f[order] / k[order]) + 0.5 * vol * vol)  # c'
        self.w = np.ascontiguousarray(oi[order] * (cs * 0.01 * _INV_SQRT_2PI) * f[order] * a)  # |w'|
        a_ = np.multiply(a, _SQRT_HALF, out=a)  # a'
        # The exponent's coefficients of x^2, x and 1, one row each (written in place: no temporaries of n): a
        # block's columns are a strided view, which BLAS reads through its leading dimension, without a copy.
        self.e = e = np.empty((3, len(order)))
        np.multiply(a_, a_, out=e[0])
        np.multiply(a_, c_, out=e[1])
        e[1] *= 2.0  # exact: 2 a'c' as one rounding of a'c'
        np.multiply(c_, c_, out=e[2])
        np.negative(e, out=e)
        self.n = len(order)
        self.n_pos = int(pos.sum())
        self.min_width = float(vol.min()) if self.n else math.inf

    def profile(self, levels: FloatArray, block_bytes: int = DEFAULT_BLOCK_BYTES) -> FloatArray:
        """Net GEX (USD per 1%) at each level; ``levels`` validated positive and finite by the caller."""
        n_lvl = len(levels)
        out = np.zeros(n_lvl)
        if self.n == 0 or n_lvl == 0:
            return out
        ratio = levels / self.spot
        x = np.log(ratio)
        powers = np.stack((x * x, x, np.ones_like(x)), axis=1)  # [x^2, x, 1] per level
        budget = max(1, int(block_bytes) // 8)  # float64 elements per block
        # Positive and negative terms are summed apart, each group chunked from its own start, and subtracted
        # once at the end: a book of matched calls and puts then cancels exactly at every level, for any block
        # size (a running +/- total would leave rounding residue that a scan could mistake for crossings).
        groups = [(side, g0, g1) for side, g0, g1 in ((0, 0, self.n_pos), (1, self.n_pos, self.n)) if g1 > g0]
        # Block = (levels) x (options), options contiguous.  numpy pays a fixed cost per row of a broadcast
        # operation, so rows are made long (up to _OPT_ROW options); levels per block: whatever then fits.
        shapes = {}
        for side, g0, g1 in groups:
            opt_chunk = min(g1 - g0, _OPT_ROW, budget)
            shapes[side] = (opt_chunk, min(n_lvl, max(1, budget // opt_chunk)))
        buf = np.empty(max(oc * lc for oc, lc in shapes.values()))  # the one reusable block: bounded memory
        wbuf = np.empty(max(oc for oc, _ in shapes.values()))  # weights at one address: BLAS may peel by alignment
        part = np.empty(max(lc for _, lc in shapes.values()))
        totals = (np.zeros(n_lvl), np.zeros(n_lvl))
        for side, g0, g1 in groups:
            total = totals[side]
            opt_chunk, lvl_chunk = shapes[side]
            for i0 in range(g0, g1, opt_chunk):
                i1 = min(g1, i0 + opt_chunk)
                e = self.e[:, i0:i1]
                w = wbuf[: i1 - i0]
                w[:] = self.w[i0:i1]
                for j0 in range(0, n_lvl, lvl_chunk):
                    j1 = min(n_lvl, j0 + lvl_chunk)
                    blk = buf[: (j1 - j0) * (i1 - i0)].reshape(j1 - j0, i1 - i0)
                    np.matmul(powers[j0:j1], e, out=blk)  # -d1^2 / 2 for every pair of the block (BLAS)
                    np.exp(blk, out=blk)  # the one transcendental per (option, level) pair
                    total[j0:j1] += np.matmul(blk, w, out=part[: j1 - j0])  # BLAS gemv over the block's options
        out = np.subtract(totals[0], totals[1], out=out)
        out *= ratio  # F' = F L/S in front of phi: one multiply per level, not per pair
        return out

    def at(self, level: float) -> float:
        """Profile at a single level (used by the root refinement; same arithmetic as :meth:`profile`)."""
        return float(self.profile(np.array([level]))[0])


def _levels_array(levels: ArrayLike) -> FloatArray:
    lv = _as_float_1d("levels", levels)
    if lv.size and not np.all(np.isfinite(lv) & (lv > 0)):
        raise ValueError("levels must be finite and > 0 (USD)")
    return lv


def gex_profile(
    levels: ArrayLike,
    spot: float,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
    *,
    contract_size: float = 1.0,
    dealer_long_calls: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> FloatArray:
    """Total net GEX (USD per 1% move) if spot were at each of ``levels`` (USD) instead of ``spot``.

    Every forward is scaled by L/spot; sigma, T and OI stay fixed.  At ``L == spot`` this equals the sum of
    :func:`gex_by_strike`'s net column.  One exp per (option, level) pair; the option x level matrix is
    processed in blocks of at most ``block_bytes`` (default 1 MiB) so memory does not grow with the chain.
    """
    lv = _levels_array(levels)
    kern = _Kernel(spot, strike, expiry_years, is_call, open_interest, iv, forward, contract_size, dealer_long_calls)
    if int(block_bytes) < 8:
        raise ValueError("block_bytes must be at least 8 (one float64)")
    return kern.profile(lv, block_bytes)


# --------------------------------------------------------------------------------------------------------------
# zero gamma
# --------------------------------------------------------------------------------------------------------------


def _brent(f, xpre: float, xcur: float, fpre: float, fcur: float, xtol: float) -> float:
    """Brent's root finder on a sign-changing bracket (the classic algorithm, as in scipy's ``brentq``).

    Secant / inverse-quadratic steps when they behave, bisection otherwise, so convergence is superlinear on the
    smooth profile and never slower than bisection.  Stops when the bracket is below ``xtol`` (USD).
    """
    if fpre == 0.0:
        return xpre
    if fcur == 0.0:
        return xcur
    xblk, fblk, spre, scur = 0.0, 0.0, 0.0, 0.0
    for _ in range(_ROOT_MAXITER):
        if fpre != 0.0 and fcur != 0.0 and (fpre > 0) != (fcur > 0):
            xblk, fblk = xpre, fpre  # contrapoint: the root lies between xcur and xblk
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):  # keep xcur the best estimate
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = 0.5 * (xtol + 4.0 * 2.220446049250313e-16 * abs(xcur))
        sbis = 0.5 * (xblk - xcur)
        if fcur == 0.0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # secant
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # inverse quadratic extrapolation
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2.0 * abs(stry) < min(abs(spre), 3.0 * abs(sbis) - delta):
                spre, scur = scur, stry  # accept the interpolated step
            else:
                spre = scur = sbis
        else:
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = f(xcur)
    return xcur


def _sign_changes(values: FloatArray) -> list[tuple[int, int, int | None]]:
    """Where a sampled function changes sign, ignoring exact zeros in between.

    Returns ``(i, j, z)`` per change: ``values[i]`` and ``values[j]`` are the nearest non-zero samples with opposite
    signs (j > i), and ``z`` is the index of an exact-zero sample between them (the middle one of the run), or
    None when they are adjacent.  A zero run between samples of the *same* sign is a touch, not a change.
    """
    nz = np.flatnonzero(values != 0.0)
    if len(nz) < 2:
        return []
    sgn = values[nz] > 0
    flips = np.flatnonzero(sgn[1:] != sgn[:-1])
    out: list[tuple[int, int, int | None]] = []
    for p in flips:
        i, j = int(nz[p]), int(nz[p + 1])
        out.append((i, j, (i + j) // 2 if j > i + 1 else None))
    return out


def _scan_size(lo: float, hi: float, min_width: float) -> int:
    span = math.log(hi / lo)
    need = math.ceil(span * _SCAN_STEPS_PER_WIDTH / min_width) + 1 if math.isfinite(min_width) else 0
    return int(min(_SCAN_MAX_LEVELS, max(_SCAN_MIN_LEVELS, need)))


def _refine_crossings(kern: _Kernel, grid: FloatArray, prof: FloatArray) -> FloatArray:
    """Each sign change of ``prof`` (sampled on the ascending ``grid``) refined to a root of the exact profile."""
    roots: list[float] = []
    for i, j, z in _sign_changes(prof):
        if z is not None:
            roots.append(float(grid[z]))
            continue
        # prof[i], prof[j] come from the same blocked arithmetic as kern.at, so they bracket its root as is.
        xa, xb = float(grid[i]), float(grid[j])
        roots.append(_brent(kern.at, xa, xb, float(prof[i]), float(prof[j]), xtol=_ROOT_RTOL * xa))
    return np.asarray(sorted(roots), dtype=np.float64)


def gex_profile_crossings(
    levels: ArrayLike,
    spot: float,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
    *,
    contract_size: float = 1.0,
    dealer_long_calls: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[FloatArray, FloatArray]:
    """The profile on ``levels`` (USD, strictly ascending) and every sign change it shows, refined.

    Returns ``(profile, crossings)``: :func:`gex_profile` on ``levels`` and, for each pair of grid levels with
    opposite signs, the root between them refined by Brent's method on the exact profile (~1e-12 relative);
    an exact-zero grid level between opposite signs is itself a crossing.  Unlike :func:`zero_gamma_levels`
    the caller owns the grid, so sign changes closer together than its step can be missed: this is the
    kernel a caller with its own grid (a chart, the benchmark) runs, one exp per (option, level) pair plus a
    few dozen single-level evaluations per crossing.
    """
    lv = _levels_array(levels)
    if lv.size > 1 and np.any(np.diff(lv) <= 0):
        raise ValueError("levels must be strictly ascending")
    if int(block_bytes) < 8:
        raise ValueError("block_bytes must be at least 8 (one float64)")
    kern = _Kernel(spot, strike, expiry_years, is_call, open_interest, iv, forward, contract_size, dealer_long_calls)
    prof = kern.profile(lv, block_bytes)
    if kern.n == 0:
        return prof, np.empty(0)
    return prof, _refine_crossings(kern, lv, prof)


class GammaRegimes(NamedTuple):
    """Crossings of the profile over [lo*spot, hi*spot] and the bands they cut that range into."""

    crossings: FloatArray  # USD, ascending (what zero_gamma_levels returns)
    bands: list[RegimeBand]  # tile [lo*spot, hi*spot]: each band's high is the next band's low


def gamma_regimes(
    spot: float,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
    *,
    lo: float = 0.5,
    hi: float = 1.5,
    contract_size: float = 1.0,
    dealer_long_calls: bool = True,
) -> GammaRegimes:
    """Zero-gamma crossings and regime bands with exact edges, from one scan of the profile.

    The crossings are those of :func:`zero_gamma_levels`.  The bands run from ``lo*spot`` to the first crossing,
    between consecutive crossings, and from the last crossing to ``hi*spot``, so they tile the range with no gap
    (unlike :func:`regime_bands`, whose edges are grid levels).  A band is 'long_gamma' where the profile is
    positive and 'short_gamma' where it is negative; the profile may be exactly 0 inside a band (gamma
    underflow far from every strike) but never has the other sign there.  No bands when the profile is 0
    everywhere (no pricable option, or calls and puts that cancel exactly).
    """
    s = _positive_scalar("spot", spot)
    lo_f = _positive_scalar("lo", lo)
    hi_f = _positive_scalar("hi", hi)
    if not lo_f < hi_f:
        raise ValueError(f"need lo < hi, got lo={lo!r}, hi={hi!r}")
    kern = _Kernel(s, strike, expiry_years, is_call, open_interest, iv, forward, contract_size, dealer_long_calls)
    if kern.n == 0:
        return GammaRegimes(np.empty(0), [])
    n = _scan_size(lo_f, hi_f, kern.min_width)
    grid = s * np.exp(np.linspace(math.log(lo_f), math.log(hi_f), n))
    grid[0], grid[-1] = lo_f * s, hi_f * s  # exact end points (exp(log(.)) can be off by an ulp)
    prof = kern.profile(grid)
    roots = _refine_crossings(kern, grid, prof)
    nonzero = np.flatnonzero(prof != 0.0)
    if not nonzero.size:
        return GammaRegimes(roots, [])
    positive = bool(prof[nonzero[0]] > 0)  # sign below the first crossing; signs alternate at each crossing
    edges = [lo_f * s, *roots.tolist(), hi_f * s]
    bands: list[RegimeBand] = []
    for low, high in zip(edges[:-1], edges[1:]):
        if high > low:
            bands.append(RegimeBand(low, high, "long_gamma" if positive else "short_gamma"))
        positive = not positive
    return GammaRegimes(roots, bands)


def zero_gamma_levels(
    spot: float,
    strike: ArrayLike,
    expiry_years: ArrayLike,
    is_call: ArrayLike,
    open_interest: ArrayLike,
    iv: ArrayLike,
    forward: ArrayLike,
    *,
    lo: float = 0.5,
    hi: float = 1.5,
    contract_size: float = 1.0,
    dealer_long_calls: bool = True,
) -> FloatArray:
    """Every spot level in [lo*spot, hi*spot] (USD, ascending) where the net GEX profile changes sign.

    The profile is scanned on a log-spaced grid (at least 4,001 levels, finer for very narrow gamma bumps - see
    ``_SCAN_*`` above) and each bracketing pair is refined by Brent's method on the exact profile to ~1e-12
    relative (far under $0.01).  A grid level where the profile is exactly 0 between samples of opposite sign
    is itself reported (when several consecutive levels are exactly 0, e.g. gamma underflow between two far-apart
    short-dated strikes, the middle one is).  An empty array means the profile never changes sign in the range
    (not an error).  Use :func:`nearest_to_spot` to name the zero-gamma level; :func:`gamma_regimes` gives the
    same crossings with the bands between them.
    """
    return gamma_regimes(
        spot, strike, expiry_years, is_call, open_interest, iv, forward,
        lo=lo, hi=hi, contract_size=contract_size, dealer_long_calls=dealer_long_calls,
    ).crossings


# --------------------------------------------------------------------------------------------------------------
# summaries the warehouse asset needs
# --------------------------------------------------------------------------------------------------------------


def _pair(name_x: str, x: ArrayLike, name_y: str, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xa = _as_float_1d(name_x, x)
    ya = _as_float_1d(name_y, y)
    if len(xa) != len(ya):
        raise ValueError(f"{name_x} and {name_y} must have the same length; got {len(xa)} and {len(ya)}")
    return xa, ya


def call_wall(strikes: ArrayLike, call_gex: ArrayLike) -> float | None:
    """Strike (USD) with the largest call GEX; None when no strike has call gamma.

    Ranked by magnitude so the answer does not depend on the dealer-sign convention (with the default
    convention call GEX is >= 0 and this is simply the largest).  Ties go to the lowest strike.
    """
    k, g = _pair("strikes", strikes, "call_gex", call_gex)
    mag = np.where(np.isfinite(g), np.abs(g), 0.0)
    if not mag.size or not mag.max() > 0:
        return None
    return float(k[int(np.argmax(mag))])


def put_wall(strikes: ArrayLike, put_gex: ArrayLike) -> float | None:
    """Strike (USD) with the largest |put GEX|; None when no strike has put gamma. Ties go to the lowest strike."""
    k, g = _pair("strikes", strikes, "put_gex", put_gex)
    mag = np.where(np.isfinite(g), np.abs(g), 0.0)
    if not mag.size or not mag.max() > 0:
        return None
    return float(k[int(np.argmax(mag))])


def nearest_to_spot(levels: ArrayLike, spot: float) -> float | None:
    """The zero-gamma level: the crossing (USD) nearest to ``spot``; None when there is none (ties: the lower)."""
    lv = _as_float_1d("levels", levels)
    s = _positive_scalar("spot", spot)
    lv = lv[np.isfinite(lv)]
    if not lv.size:
        return None
    lv = np.sort(lv)
    return float(lv[int(np.argmin(np.abs(lv - s)))])


def gex_within_band(strikes: ArrayLike, net_gex: ArrayLike, center: float, pct: float) -> float:
    """Gamma concentration: sum of |net GEX| (USD per 1%) over strikes within +/- ``pct`` percent of ``center``.

    ``pct`` is in percent (5 means +/-5%); the band is inclusive at both ends.  0.0 when no strike is inside.
    """
    k, g = _pair("strikes", strikes, "net_gex", net_gex)
    c = _positive_scalar("center", center)
    p = float(pct)
    if not (math.isfinite(p) and p >= 0):
        raise ValueError(f"pct must be a finite percentage >= 0, got {pct!r}")
    half = c * p / 100.0
    inside = (np.abs(k - c) <= half) & np.isfinite(g)
    return float(np.abs(g[inside]).sum())


def regime_bands(levels: ArrayLike, profile: ArrayLike) -> list[RegimeBand]:
    """Contiguous ranges of ``levels`` (ascending, USD) where ``profile`` < 0 ('short_gamma') or > 0 ('long_gamma').

    Each band runs from the first to the last grid level of a same-sign run, so bands are separated by one grid
    step (the exact edges are the crossings from :func:`zero_gamma_levels`).  Levels where the profile is exactly
    0 or NaN belong to no band and split the run.
    """
    lv, pr = _pair("levels", levels, "profile", profile)
    if lv.size > 1 and np.any(np.diff(lv) <= 0):
        raise ValueError("levels must be strictly ascending")
    code = np.where(pr > 0, 1, np.where(pr < 0, -1, 0))  # NaN -> 0 (no band)
    bands: list[RegimeBand] = []
    if not lv.size:
        return bands
    # Start of a run wherever the code changes; drop runs of code 0.
    starts = np.flatnonzero(np.concatenate(([True], code[1:] != code[:-1])))
    ends = np.concatenate((starts[1:], [len(code)])) - 1
    for s0, e0 in zip(starts, ends):
        if code[s0] == 0:
            continue
        bands.append(RegimeBand(float(lv[s0]), float(lv[e0]), "long_gamma" if code[s0] > 0 else "short_gamma"))
    return bands
