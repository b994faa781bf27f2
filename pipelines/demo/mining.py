"""The demo mining model: a true network hash rate, Poisson blocks, and Bitcoin's difficulty retargets.

Walked forward one UTC day at a time from a fixed demo genesis (a retarget boundary in 2019):
- the true hash rate follows growth regimes (log growth per year) plus AR(1) noise (weather, curtailment);
- the day's block count is Poisson(86400 x H_true / (D x 2^32)), i.e. 144 blocks when the hash rate equals
  the difficulty's equivalent D x 2^32 / 600, more when hash rate has grown since the last retarget;
- block times are sorted uniform draws within the day; every 2016 blocks the difficulty is multiplied by
  (2016 x 600 s) / (time of the epoch's last block - time of its first), clamped to [1/4, 4], as Bitcoin does;
- what mempool.space reports for the day is the *observed* hash rate: the work of the day's blocks over
  the day, blocks x difficulty x 2^32 / 86400 (so it carries the Poisson noise of ~8% per day).
Per-block views (first height of a day, mining time and difficulty of a height, the tip at a moment) feed
the demo blocks endpoints (pipelines/demo/endpoints_mining.py), which draw each block's details from them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import threading
from dataclasses import dataclass, field

import numpy as np

from pipelines.demo.seeds import rng

DAY_S = 86_400
TWO_32 = 2.0**32
EPOCH_DATE = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class HashRegime:
    """From `start` on: log growth of the true hash rate per year."""

    start: dt.date
    growth_per_year: float


DEFAULT_HASH_REGIMES: tuple[HashRegime, ...] = (
    HashRegime(dt.date(2019, 6, 1), 0.75),
    HashRegime(dt.date(2020, 5, 11), 0.35),  # halving: slower growth
    HashRegime(dt.date(2021, 5, 15), -4.5),  # miners leave China
    HashRegime(dt.date(2021, 7, 1), 1.5),  # ...and come back online elsewhere
    HashRegime(dt.date(2022, 1, 1), 0.30),
    HashRegime(dt.date(2023, 1, 1), 0.62),
    HashRegime(dt.date(2024, 4, 20), 0.45),
    HashRegime(dt.date(2025, 1, 1), 0.22),
    HashRegime(dt.date(2025, 9, 1), 1.6),  # a new generation of machines energised
    HashRegime(dt.date(2025, 10, 17), -1.9),  # thin margins: capacity leaves for AI/HPC hosting
    HashRegime(dt.date(2025, 11, 25), 0.2),
)


@dataclass(frozen=True)
class MiningParams:
    seed_label: str = "demo-mining/v2"
    genesis_date: dt.date = dt.date(2019, 6, 1)  # the demo chain starts here, at a retarget boundary
    genesis_height: int = 578_592  # 287 x 2016
    genesis_hash_ehs: float = 55.0  # true hash rate on the genesis date; difficulty starts at its equivalent
    regimes: tuple[HashRegime, ...] = DEFAULT_HASH_REGIMES
    noise_sd: float = 0.012  # daily innovation of the log true hash rate
    noise_phi: float = 0.8  # its persistence
    target_spacing_s: int = 600
    retarget_blocks: int = 2016
    max_retarget_factor: float = 4.0
    current_hashrate_blocks: int = 1008  # mempool's currentHashrate = getnetworkhashps(1008)


@dataclass(frozen=True)
class Adjustment:
    time: int  # unix s of the first block mined at the new difficulty
    height: int
    difficulty: float
    adjustment: float  # new / old


def _day_start(day: dt.date) -> int:
    return (day - EPOCH_DATE).days * DAY_S


@dataclass
class MiningModel:
    params: MiningParams = field(default_factory=MiningParams)

    def __post_init__(self) -> None:
        p = self.params
        if p.genesis_height % p.retarget_blocks:
            raise ValueError("genesis_height must be a retarget boundary")
        self._lock = threading.RLock()
        self._regime_starts = [r.start.toordinal() for r in p.regimes]
        start = _day_start(p.genesis_date)
        # Simulation state, advanced one day at a time.
        self._tip = p.genesis_height  # the genesis block is "mined" at genesis 00:00
        self._last_time = start
        self._difficulty = p.genesis_hash_ehs * 1e18 * p.target_spacing_s / TWO_32
        self._epoch_first_time = start
        self._next_boundary = p.genesis_height + p.retarget_blocks
        self._noise = 0.0
        self._trend = 0.0
        # Per simulated day.
        self._first_height: list[int] = []
        self._times: list[np.ndarray] = []
        self._observed: list[float] = []
        self._true: list[float] = []
        self._start_difficulty: list[float] = []
        # Epochs (first height, difficulty) and retargets.
        self._epoch_heights = [p.genesis_height]
        self._epoch_difficulty = [self._difficulty]
        self._adjustments: list[Adjustment] = []
        self._all_times: np.ndarray | None = None

    # ---- simulation -----------------------------------------------------------------------------------
    def _growth(self, day: dt.date) -> float:
        i = bisect.bisect_right(self._regime_starts, day.toordinal()) - 1
        return self.params.regimes[max(i, 0)].growth_per_year

    def _simulate_day(self, day: dt.date) -> None:
        p = self.params
        if self._first_height:  # trend accrues from the genesis day on
            self._trend += self._growth(day) / 365.25
        g = rng(p.seed_label + "/blocks", day)
        self._noise = p.noise_phi * self._noise + p.noise_sd * g.standard_normal()
        true_hash = p.genesis_hash_ehs * 1e18 * math.exp(self._trend + self._noise)
        start_difficulty = self._difficulty
        n = int(g.poisson(DAY_S * true_hash / (start_difficulty * TWO_32)))
        times = _day_start(day) + np.floor(np.sort(g.random(n)) * DAY_S).astype(np.int64)
        tip, work_blocks, k = self._tip, 0.0, 0
        difficulty = start_difficulty
        while tip + n >= self._next_boundary:  # a retarget block is mined today
            j = self._next_boundary - tip - 1
            last_of_epoch = int(times[j - 1]) if j > 0 else self._last_time
            span = max(last_of_epoch - self._epoch_first_time, 1)
            ratio = p.retarget_blocks * p.target_spacing_s / span
            ratio = min(max(ratio, 1.0 / p.max_retarget_factor), p.max_retarget_factor)
            work_blocks += (j - k) * difficulty
            difficulty *= ratio
            self._adjustments.append(Adjustment(int(times[j]), self._next_boundary, difficulty, ratio))
            self._epoch_heights.append(self._next_boundary)
            self._epoch_difficulty.append(difficulty)
            self._epoch_first_time = int(times[j])
            self._next_boundary += p.retarget_blocks
            k = j
        work_blocks += (n - k) * difficulty
        self._difficulty = difficulty
        self._first_height.append(tip + 1)
        self._times.append(times)
        self._observed.append(work_blocks * TWO_32 / DAY_S)
        self._true.append(true_hash)
        self._start_difficulty.append(start_difficulty)
        self._tip = tip + n
        if n:
            self._last_time = int(times[-1])

    def _ensure(self, day: dt.date) -> None:
        if day < self.params.genesis_date:
            raise ValueError(f"no demo chain before {self.params.genesis_date}")
        with self._lock:
            simulated_to = self.params.genesis_date + dt.timedelta(days=len(self._observed) - 1)
            if day <= simulated_to:
                return
            target = day + dt.timedelta(days=60)
            d = simulated_to + dt.timedelta(days=1)
            while d <= target:
                self._simulate_day(d)
                d += dt.timedelta(days=1)
            self._all_times = None

    def _index(self, day: dt.date) -> int:
        self._ensure(day)
        return (day - self.params.genesis_date).days

    # ---- daily views ----------------------------------------------------------------------------------
    def observed_hashrate(self, day: dt.date) -> float:
        """H/s as mempool reports it for `day` (the row labelled day + 1, 00:00 UTC)."""
        with self._lock:
            return self._observed[self._index(day)]

    def true_hashrate(self, day: dt.date) -> float:
        with self._lock:
            return self._true[self._index(day)]

    def blocks(self, day: dt.date) -> int:
        with self._lock:
            return len(self._times[self._index(day)])

    def difficulty_at_start(self, day: dt.date) -> float:
        with self._lock:
            return self._start_difficulty[self._index(day)]

    def adjustments_between(self, start_s: float, end_s: float) -> list[Adjustment]:
        """Retargets with start_s <= time <= end_s, by height."""
        with self._lock:
            self._ensure(EPOCH_DATE + dt.timedelta(days=int(end_s // DAY_S)))
            return [a for a in self._adjustments if start_s <= a.time <= end_s]

    # ---- per-block views (the blocks endpoints draw their details from these) -------------------------
    @property
    def first_block_height(self) -> int:
        """The first simulated block (the genesis-date block at `genesis_height` itself is not simulated)."""
        return self.params.genesis_height + 1

    def first_height(self, day: dt.date) -> int:
        """Height of the first block mined on `day` (the last block of the previous day is this - 1)."""
        with self._lock:
            return self._first_height[self._index(day)]

    def block_times(self, day: dt.date) -> np.ndarray:
        with self._lock:
            return self._times[self._index(day)]

    def heights_times(self, first: int, last: int) -> np.ndarray:
        """Mining times (unix s, non-decreasing) of heights first..last, all simulated (e.g. <= a `tip_at`)."""
        with self._lock:
            base = self.first_block_height
            if first < base:
                raise ValueError(f"no demo block below height {base}")
            times = self._times_array()
            if last - base >= len(times):
                raise ValueError(f"height {last} is not simulated yet: ask tip_at() first")
            return times[first - base : last - base + 1]

    def difficulty_of_height(self, height: int) -> float:
        with self._lock:
            return self._difficulty_of(height)

    def tip_at(self, now_s: int) -> int:
        """Height of the last block mined at or before `now_s` (first_block_height - 1 if none yet)."""
        with self._lock:
            if now_s < _day_start(self.params.genesis_date):
                return self.params.genesis_height
            return self._tip_at(now_s)

    def _times_array(self) -> np.ndarray:
        if self._all_times is None:
            self._all_times = np.concatenate(self._times)
        return self._all_times

    # ---- "now" views ----------------------------------------------------------------------------------
    def _tip_at(self, now_s: int) -> int:
        day = EPOCH_DATE + dt.timedelta(days=now_s // DAY_S)
        i = self._index(day)
        times = self._times[i]
        mined = int(np.searchsorted(times, now_s, side="right"))
        return self._first_height[i] + mined - 1

    def _difficulty_of(self, height: int) -> float:
        return self._epoch_difficulty[bisect.bisect_right(self._epoch_heights, height) - 1]

    def current_difficulty(self, now_s: int) -> float:
        """Difficulty the next block after `now_s` is mined at."""
        with self._lock:
            return self._difficulty_of(self._tip_at(now_s) + 1)

    def current_hashrate(self, now_s: int) -> float:
        """Work of the last `current_hashrate_blocks` blocks over their time span (getnetworkhashps)."""
        p = self.params
        with self._lock:
            tip = self._tip_at(now_s)
            all_times = self._times_array()
            base_height = p.genesis_height + 1
            first = max(tip - p.current_hashrate_blocks, base_height)
            heights = np.arange(first + 1, tip + 1)
            starts = np.asarray(self._epoch_heights)
            difficulty = np.asarray(self._epoch_difficulty)[np.searchsorted(starts, heights, side="right") - 1]
            span = int(all_times[tip - base_height] - all_times[first - base_height])
            return float(difficulty.sum() * TWO_32 / max(span, 1))
