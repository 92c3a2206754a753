"""Run a benchmark suite: warm up, then interleaved rounds over every case plus a fixed calibration workload.

Each round times every case once and the calibration once, in a fresh seeded order, so machine noise (other
jobs on a shared box, frequency changes) hits all of them alike. The calibration is a fixed matmul workload
that never changes with the code: dividing by it normalises results for machine speed between runs.
"""

from __future__ import annotations

import contextlib
import gc
import math
import random
import time
from collections.abc import Callable, Iterator

import torch

from swinprof.errors import SwinprofError
from swinprof.measure.device import resolve_device, resolve_dtype
from swinprof.measure.environment import environment
from swinprof.measure.inputs import seeded_images
from swinprof.measure.timing import time_once
from swinprof.track.recipe_case import build_recipe_case, case_model, is_recipe_case
from swinprof.track.results import CaseResult, Results
from swinprof.track.suite import Case, Suite

CALIBRATION_WORKLOAD = "mixed-v1: 2 x 256^3 fp32 matmul + 3 x window-attention block (2x256x32 tokens), torch ops only"
CALIBRATION_KEY = "__calibration__"
FIDELITY_KEY = "__fidelity__"  # recipe cases' fidelity, carried back from (worker) processes with the environment


def calibration_fn(device: torch.device) -> Callable[[], object]:
    """The fixed workload: same shapes, dtype and seed in every run and every version of swinprof.

    Built from torch ops only (never from swinprof's model code, or a regression there would slow the yardstick
    too). Half compute-bound (large matmuls), half dispatch-bound (a small transformer block of many small ops),
    because contention on a shared machine slows those two kinds of work differently and Swin has both.
    """
    gen = torch.Generator(device="cpu").manual_seed(1234)

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * scale).to(device)

    a, b = rand(256, 256), rand(256, 256, scale=1 / 16)
    x0, w_qkv, w_proj = rand(2, 256, 32), rand(96, 32, scale=0.18), rand(32, 32, scale=0.18)
    w1, w2 = rand(128, 32, scale=0.18), rand(32, 128, scale=0.09)
    f = torch.nn.functional

    def block(x: torch.Tensor) -> torch.Tensor:  # (2, 256, 32): 16 windows of 16 tokens, 2 heads
        qkv = f.linear(f.layer_norm(x, (32,)), w_qkv).reshape(2, 16, 16, 3, 2, 16).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)
        attn = ((q * 0.25) @ k.transpose(-2, -1)).softmax(-1)
        x = x + f.linear((attn @ v).permute(0, 1, 3, 2, 4).reshape(2, 256, 32), w_proj)
        return x + f.linear(f.gelu(f.linear(f.layer_norm(x, (32,)), w1)), w2)

    def run() -> torch.Tensor:
        y = a
        for _ in range(2):
            y = f.gelu(y @ b)
        x = x0
        for _ in range(3):
            x = block(x)
        return x

    return run


def case_forward(case: Case, device: torch.device, seed: int = 0,
                 weights: str | None = None) -> Callable[[torch.Tensor], torch.Tensor]:  # fmt: skip
    """The model of a `fp32-eager`-style case (seeded random weights, or the checkpoint `weights`; eval mode) as
    a forward `(B, 3, H, W)` -> logits `(B, classes)` in the case's dtype and mode."""
    model = case_model(case, device, seed, weights, resolve_dtype(case.dtype))
    forward = model
    if case.mode == "compile":
        try:
            forward = torch.compile(model)
        except RuntimeError as exc:  # e.g. no C++ compiler for inductor
            raise SwinprofError(f"case {case.id}: torch.compile is not usable here ({exc}); use eager") from exc
    return forward


def build_case(case: Case, device: torch.device, seed: int = 0, weights: str | None = None) -> Callable[[], object]:
    """The model of `case` (`case_forward`) and a forward closure on a fixed seeded input batch."""
    forward = case_forward(case, device, seed, weights)
    x = seeded_images(case.batch, case.res, seed, device=device, dtype=resolve_dtype(case.dtype))
    return lambda: forward(x)


def with_planted_slowdown(fn: Callable[[], object], factor: float, device: torch.device) -> Callable[[], object]:
    """`fn` made `factor` times slower by a busy-wait proportional to its own duration (tests only).

    The wait spins on the host after the work has finished (synchronised on CUDA, where it shows in the
    CUDA-event timings too), and scales with the case as a real regression would.
    """
    if factor == 1.0:
        return fn

    # On CPU the wait is sized and spun in process CPU time, so it adds the same fraction to both clocks the
    # runner records (wall time then includes any preemption during the spin, as it would for real work).
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def slowed() -> object:
        t0 = clock()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        end = clock() + (clock() - t0) * (factor - 1.0)
        while clock() < end:
            pass
        return out

    return slowed


@contextlib.contextmanager
def _quiet_machine(threads: int) -> Iterator[None]:
    """Fixed thread count and no garbage-collector pauses inside timed rounds; restores both."""
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    gc.collect()
    gc.disable()
    try:
        with torch.inference_mode():
            yield
    finally:
        gc.enable()
        torch.set_num_threads(old_threads)


def _rounds(
    fns: dict[str, Callable[[], object]],
    samples: int,
    device: torch.device,
    seed: int,
    on_round: Callable[[int], None] | None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """`(wall_ms, cpu_ms)` per name, one sample per round. CPU time is the process's (all its threads): on a
    shared machine it leaves out the time the scheduler gave to other jobs, which wall time cannot."""
    rng = random.Random(seed)
    names = list(fns)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for i in range(samples):
        rng.shuffle(names)  # a fresh order each round: no case always runs right after another
        for name in names:
            c0 = time.process_time()
            wall[name].append(time_once(fns[name], device))
            cpu[name].append((time.process_time() - c0) * 1e3)
        if on_round is not None:
            on_round(i + 1)
    return wall, cpu


def measure_in_process(
    suite: Suite,
    samples: int,
    warmup: int,
    planted_slowdown: float,
    seed: int,
    on_round: Callable[[int], None] | None = None,
    weights: str | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict]:
    """Build every case here (from the checkpoint `weights` when given), warm up, run `samples` interleaved
    rounds: `(wall_ms, cpu_ms, environment)`."""
    device = resolve_device(suite.device)
    with _quiet_machine(suite.threads):
        fns = {CALIBRATION_KEY: calibration_fn(device)}
        fidelity: dict[str, dict] = {}
        for case in suite.cases:
            if is_recipe_case(case.recipe):
                fn, fidelity[case.id] = build_recipe_case(case, device, suite.seed, weights)
            else:
                fn = build_case(case, device, suite.seed, weights)
            fns[case.id] = with_planted_slowdown(fn, planted_slowdown, device)
        for name, fn in fns.items():
            # torch.compile compiles on the first call: always warm up at least once.
            for _ in range(max(warmup, 1 if name != CALIBRATION_KEY else 0)):
                fn()
        env = environment(device)
        if fidelity:  # passed back beside the samples, taken out again by run_suite
            env = {**env, FIDELITY_KEY: fidelity}
        wall, cpu = _rounds(fns, samples, device, seed, on_round)
    if device.type == "cuda":  # host CPU time says nothing about asynchronous GPU work
        cpu = {name: [] for name in cpu}
    return wall, cpu, env


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def run_suite(
    suite: Suite,
    samples: int | None = None,
    warmup: int | None = None,
    planted_slowdown: float = 1.0,
    on_round: Callable[[int], None] | None = None,
    processes: int | None = None,
    weights: str | None = None,
) -> Results:
    """Time every case of `suite`; returns raw samples (ms), the calibration samples and the environment.

    With `processes` > 1 (default: the suite's) the rounds are split over that many fresh worker processes run
    one after another, and their samples pooled (process order kept, so round pairing holds): a single process
    carries its own offset (memory layout, what else ran at that moment) that more samples cannot average out.
    `planted_slowdown` (>1) slows every case by a busy-wait, for testing the regression detector only; it is
    recorded in the results so it can never pass unnoticed. `weights`: a checkpoint every case's model loads
    (default: seeded random weights).
    """
    if not (math.isfinite(planted_slowdown) and planted_slowdown >= 1.0):  # inf would spin forever, NaN never end
        raise SwinprofError(f"planted slowdown must be a finite number >= 1.0, got {planted_slowdown}")
    samples = samples or suite.samples
    warmup = suite.warmup if warmup is None else warmup
    processes = processes or suite.processes
    repair = repair_cache_for(suite)
    t0 = time.perf_counter()
    if processes == 1:
        wall, cpu, env = measure_in_process(suite, samples, warmup, planted_slowdown, suite.seed, on_round, weights)
    else:
        from swinprof.track.worker import measure_in_worker

        wall, cpu, done = {}, {}, 0
        for i, n in enumerate(_split(samples, processes)):
            w, c, env = measure_in_worker(suite, n, warmup, planted_slowdown, suite.seed + i, weights)
            for name in w:
                wall.setdefault(name, []).extend(w[name])
                cpu.setdefault(name, []).extend(c[name])
            done += n
            if on_round is not None:
                on_round(done)
    fidelity = env.pop(FIDELITY_KEY, {}) if isinstance(env, dict) else {}
    cases = [CaseResult(c.id, c.to_dict(), wall[c.id], cpu[c.id]) for c in suite.cases]
    for c in cases:
        if c.id in fidelity:
            c.spec["fidelity"] = fidelity[c.id]
    return Results(
        suite=suite.to_dict(),
        environment=env,
        calibration={
            "workload": CALIBRATION_WORKLOAD,
            "samples_ms": wall[CALIBRATION_KEY],
            "cpu_ms": cpu[CALIBRATION_KEY],
        },
        cases=cases,
        planted_slowdown=planted_slowdown,
        duration_s=round(time.perf_counter() - t0, 3),
        extra={"processes": processes, **({"inductor_cache_repair": repair} if repair else {})},
    )


def repair_cache_for(suite: Suite) -> str:
    """Before a suite with `compile` cases builds anything (its accuracy pass, its rounds here or in worker
    processes, which share the on-disk cache): remove what an interrupted build left cut in inductor's cache
    (`optimize.inductor_cache`), once per process, and say what this process removed (empty when nothing was)."""
    if not any(c.mode == "compile" for c in suite.cases):
        return ""
    from swinprof.optimize.inductor_cache import process_repair

    return process_repair().message()

