"""Kernel benchmarks with their baselines measured in the same run (ISSUE 4 targets).

- rolling features, 223 stations x 26,496 steps x 7 windows: vs pandas rolling (>= 20x) and vs a
  NumPy memory-copy floor writing the same output bytes (<= 3x);
- Muskingum–Cunge, 10,000 reaches x 1,000 steps: vs the floor (read both inputs, write the
  output), ns per reach-step;
- streaming update for 1,417 stations (<= 1 ms per cycle);
- cold start: import + first calls in a fresh process with a warm cache (<= 1 s).

Timings are best of N. "Fresh" runs allocate their output with ``np.empty`` on every call (both
kernel and floor pay the first touch of new pages, which is expensive on a VM); "warm" runs
write into arrays allocated once (kernel ``out=``, floor ``np.copyto``/``out=``). The machine's
load average is recorded first: other jobs on a 2-core VM change every number here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from bench.common import record, timeit

STATIONS = 223
STEPS = 26_496  # one season of 10-minute steps (184 days)
WINDOWS = np.array([6, 18, 36, 72, 144, 288, 432], dtype=np.int64)  # 1 h .. 72 h
FRAC = 0.8


def rain(n_st: int, n_t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.gamma(0.1, 2.0, (n_st, n_t)).round(1)
    x[rng.random(x.shape) < 0.01] = np.nan
    return x


def bench_rolling() -> None:
    import pandas as pd
    from floodwarn.kernels import rolling_multi

    x = rain(STATIONS, STEPS)
    rolling_multi(x[:2, :100], WINDOWS, FRAC)  # compile / load cache
    shape = (len(WINDOWS), STATIONS, STEPS)
    t_kernel = timeit(lambda: rolling_multi(x, WINDOWS, FRAC), repeat=5)
    out = (np.empty(shape), np.empty(shape), np.empty(shape))
    t_kernel_warm = timeit(lambda: rolling_multi(x, WINDOWS, FRAC, out=out), repeat=5)

    def floor() -> None:  # read the input once per output array, write the same output bytes
        for _ in range(3):
            dst = np.empty(shape)
            np.copyto(dst, x[None])

    def floor_warm() -> None:  # the same copies into arrays that already exist
        for dst in out:
            np.copyto(dst, x[None])

    t_floor = timeit(floor, repeat=5)
    t_floor_warm = timeit(floor_warm, repeat=5)
    df = pd.DataFrame(x.T)

    def with_pandas() -> None:  # the same 21 outputs, min_periods as the kernel's min counts
        for w in WINDOWS:
            r = df.rolling(int(w), min_periods=max(1, int(np.ceil(FRAC * w - 1e-9))))
            r.sum(), r.mean(), r.max()

    t_pandas = timeit(with_pandas, repeat=2)
    cells = STATIONS * STEPS * len(WINDOWS)
    record("rolling_multi 223x26496x7w vs pandas (ratio: speed-up)", t_kernel, "s",
           baseline=t_pandas, ratio=t_pandas / t_kernel)
    record("rolling_multi 223x26496x7w vs copy floor (ratio: slowdown)", t_kernel, "s",
           baseline=t_floor, ratio=t_kernel / t_floor)
    record("rolling_multi out= (warm) vs warm copy floor (ratio: slowdown)", t_kernel_warm, "s",
           baseline=t_floor_warm, ratio=t_kernel_warm / t_floor_warm)
    record("rolling_multi ns per station-step-window", t_kernel / cells * 1e9, "ns")


def tree(n: int, seed: int = 1) -> np.ndarray:
    """A random river tree: reach r drains into a reach with a higher index; n-1 is the outlet."""
    rng = np.random.default_rng(seed)
    down = np.empty(n, dtype=np.int64)
    for r in range(n - 1):
        down[r] = rng.integers(r + 1, min(n, r + 40))
    down[n - 1] = -1
    return down


def bench_routing() -> None:
    from floodwarn.kernels import muskingum_cunge, topological_order

    n, nt = 10_000, 1_000
    rng = np.random.default_rng(2)
    down = tree(n)
    order = topological_order(down)
    length = rng.uniform(2e3, 8e3, n)
    cel = rng.uniform(1.0, 3.0, n)
    dif = rng.uniform(5e2, 5e3, n)
    up = np.zeros((n, nt))
    up[: n // 100] = 50 + 100 * np.sin(np.arange(nt) / 50.0) ** 2
    lat = rng.gamma(0.5, 1.0, (n, nt))
    muskingum_cunge(order[:0], down, length, cel, dif, up[:, :2], lat[:, :2])
    t_kernel = timeit(lambda: muskingum_cunge(order, down, length, cel, dif, up, lat), repeat=7)
    out = np.empty((n, nt))
    t_kernel_warm = timeit(
        lambda: muskingum_cunge(order, down, length, cel, dif, up, lat, out=out), repeat=7
    )
    t_floor = timeit(lambda: np.add(up, lat), repeat=7)  # read both inputs, write a new output
    t_floor_warm = timeit(lambda: np.add(up, lat, out=out), repeat=7)
    record("muskingum_cunge 10000x1000 vs copy floor (ratio: slowdown)", t_kernel, "s",
           baseline=t_floor, ratio=t_kernel / t_floor)
    record("muskingum_cunge out= (warm) vs warm floor (ratio: slowdown)", t_kernel_warm, "s",
           baseline=t_floor_warm, ratio=t_kernel_warm / t_floor_warm)
    record("muskingum_cunge ns per reach-step", t_kernel / (n * nt) * 1e9, "ns")


def bench_stream() -> None:
    from floodwarn.kernels import stream_init, stream_step

    from floodwarn.features import FeatureStream

    n = 1_417
    x = rain(n, 1_000, seed=3)
    state = stream_init(n, WINDOWS, FRAC)
    for t in range(600):  # fill the windows
        stream_step(state, np.ascontiguousarray(x[:, t]))
    cols = [np.ascontiguousarray(x[:, t]) for t in range(600, 1_000)]
    times = []
    for c in cols:
        t0 = time.perf_counter()
        stream_step(state, c)
        times.append(time.perf_counter() - t0)
    record("stream_step 1417 stations x 7 windows (median)", float(np.median(times)) * 1e3, "ms")
    fs = FeatureStream([str(i) for i in range(n)], hours=WINDOWS / 6, min_valid_frac=FRAC)
    for c in cols[:100]:
        fs.update(c)
    t_wrap = timeit(lambda: fs.update(cols[-1]), repeat=200)
    record("FeatureStream.update 1417 stations (best)", t_wrap * 1e3, "ms")


COLD = """
import time
t0 = time.perf_counter()
import numpy as np
import floodwarn.kernels as k
x = np.zeros((2, 50)); w = np.array([6, 18], dtype=np.int64)
k.rolling_multi(x, w, 0.8)
k.stream_step(k.stream_init(2, w, 0.8), x[:, 0].copy())
k.qc_flags(x[0], np.arange(50, dtype=np.int64) * 600, 0.0, 1.0, 0.5, 6.0, 36, 0, 3600)
k.hysteresis_levels(x[0], np.array([1.0, 2.0]), 0.1, 3)
k.first_crossing(x, np.arange(50.0), np.ones((2, 2)))
print(time.perf_counter() - t0)
"""


def bench_cold_start() -> None:
    subprocess.run([sys.executable, "-c", COLD], check=True, capture_output=True)  # warm cache
    inner, wall = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", COLD], check=True, capture_output=True,
                             text=True)
        wall.append(time.perf_counter() - t0)
        inner.append(float(res.stdout.strip().splitlines()[-1]))
    record("cold start: import + first calls (in process)", min(inner), "s")
    record("cold start: whole python process", min(wall), "s")


def main() -> None:
    record("machine load average (1 min) before the kernel benchmarks", os.getloadavg()[0],
           f"runnable tasks on {os.cpu_count()} cpus")
    bench_cold_start()
    bench_stream()
    bench_routing()
    bench_rolling()


if __name__ == "__main__":
    main()
