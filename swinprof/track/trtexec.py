"""Device timings from `trtexec` into the tracker: its `--exportTimes` and `--exportProfile` JSON files and its log
become a results file (`track/results.py`) that `swinprof regress` and `history` read like a bench run, and a
report with the per-layer times.

The schema is trtexec's own (TensorRT's `samples/common/sampleReporting.cpp`, `exportJSONTrace` and
`Profiler::exportJSONProfile`):
- times: `[{"startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs", "startD2hMs",
  "endD2hMs", "h2dMs", "computeMs", "d2hMs", "latencyMs"}, ...]`, one object per inference, times in ms from the
  start of the inference run. TensorRT 8 before 8.6 also wrote `"endToEndMs"` and kept the warm-up inferences in
  the list (`exportJSONTrace(trace, file)`); later versions skip them (`exportJSONTrace(trace, file, warmups)`).
  trtexec itself tells a warm-up from a timed inference by `startComputeMs < warmupMs` (`printPerformanceReport`),
  the `--warmUp` duration (default 200 ms, logged as `Duration: 3s (+ 200ms warm up)`): the same rule drops them
  here, with the log's duration, or trtexec's default for a legacy file given without its log;
- profile: `[{"count": N}, {"name", "timeMs", "averageMs", "medianMs", "percentage"}, ...]`: N profiled
  iterations, then one object per engine layer (`medianMs` since TensorRT 8.6; `timeMs` is the total over N).
Numbers are milliseconds. `computeMs` is the GPU compute time of one inference (what trtexec's "GPU Compute
Time" summarises); `latencyMs` adds the host-to-device and device-to-host copies. Percentiles follow swinprof's
one rule (`measure.stats.percentile`, linear interpolation), not trtexec's.

The version comes from the log's `TensorRT version: 8.6.1` line where there is one, else from the banner
`&&&& RUNNING TensorRT.trtexec [TensorRT v8601] [b26] # ...`, whose number is NV_TENSORRT_VERSION: major x 1000 +
minor x 100 + patch up to TensorRT 9 (`v8601` = 8.6.1), major x 10000 + minor x 100 + patch from TensorRT 10 on
(`v100300` = 10.3.0, `v110100` = 11.1.0).
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from swinprof.errors import ResultsError
from swinprof.measure.stats import percentile
from swinprof.track.results import CaseResult, Results
from swinprof.track.schema import decode, fail, is_number, need_dict, need_number, need_str, read_json_text

TIME_METRICS = {"compute": "computeMs", "latency": "latencyMs"}
SUITE = "trtexec"
# `[12/03/2026-10:32:46] [I] Key: value` -> ("Key", "value")
_LOG_LINE = re.compile(r"^(?:\[[^\]]*\]\s*)*(?P<key>[A-Za-z][A-Za-z0-9 ()/%.-]*?)\s*:\s*(?P<value>.+?)\s*$")
_RUNNING = re.compile(r"&&&& RUNNING TensorRT\.trtexec \[TensorRT v(?P<v>[\d.]+)\](?: \[b\d+\])? # (?P<cmd>.*)$")
_VERSION_LINE = re.compile(r"\] TensorRT version: (?P<v>\d+\.\d+\.\d+)")
_WARMUP_LOGGED = re.compile(r"Duration: .*\(\+ (?P<ms>[\d.]+) ?ms warm ?up\)")
_WARMUP_FLAG = re.compile(r"--warmUp[= ](?P<ms>[\d.]+)")
_WARMUPS_DONE = re.compile(r"Warmup completed (?P<n>\d+) queries")
DEFAULT_WARMUP_MS = 200.0  # trtexec's --warmUp default
LOG_KEYS = {"Selected Device": "device", "Compute Capability": "compute_capability", "Model": "model_file",
            "Precision": "precision", "Throughput": "throughput", "Input build shape": "build_shape",
            "Input inference shape": "inference_shape", "Input inference shapes": "inference_shape",
            "Strongly Typed": "strongly_typed"}  # fmt: skip


@dataclass
class TrtexecRun:
    """One trtexec run: per-inference times (ms) of the timed inferences, the per-layer profile, what its log
    says, and how many warm-up inferences the times file held and were dropped (`warmup_note` says how)."""

    times: list[dict]
    profile_count: int | None = None
    layers: list[dict] = field(default_factory=list)
    log: dict = field(default_factory=dict)
    warmups_dropped: int = 0
    warmup_note: str = ""

    def samples(self, metric: str = "compute") -> list[float]:
        key = TIME_METRICS[metric]
        return [float(t[key]) for t in self.times]


def _load(path: str | os.PathLike, what: str) -> object:
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"{what} {str(p)!r} not found; write it with trtexec --{what.split()[1]}={p.name}")
    return decode(read_json_text(p, what), str(p))


def read_times(path: str | os.PathLike) -> list[dict]:
    """The `--exportTimes` file: a non-empty list of per-inference objects with positive `computeMs` and
    non-negative `latencyMs` (every other field is kept as written, numbers checked)."""
    doc = _load(path, "trtexec exportTimes file")
    where = str(path)
    if not isinstance(doc, list) or not doc:
        raise fail(where, "the file", "a non-empty list of per-inference objects (trtexec --exportTimes)", doc)
    for i, record in enumerate(doc):
        need_dict(record, where, f"inference {i}")
        need_number(record.get("computeMs"), where, f"inference {i}: computeMs", strict=True)
        need_number(record.get("latencyMs"), where, f"inference {i}: latencyMs", strict=True)
        for key, value in record.items():
            if not is_number(value):
                raise fail(where, f"inference {i}: {key}", "a finite number (ms)", value)
    return doc


def read_profile(path: str | os.PathLike) -> tuple[int, list[dict]]:
    """The `--exportProfile` file: `(iterations, layers)`, each layer `{name, timeMs, averageMs, medianMs?,
    percentage}`."""
    doc = _load(path, "trtexec exportProfile file")
    where = str(path)
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict) or "count" not in doc[0]:
        raise fail(where, "the file", 'a list starting with {"count": N} (trtexec --exportProfile)', doc)
    count = need_number(doc[0]["count"], where, "count", strict=True)
    layers = []
    for i, layer in enumerate(doc[1:], 1):
        need_dict(layer, where, f"layer {i}")
        row = {"name": need_str(layer.get("name"), where, f"layer {i}: name")}
        for key in ("timeMs", "averageMs", "percentage"):
            row[key] = need_number(layer.get(key), where, f"layer {i}: {key}")
        if "medianMs" in layer:
            row["medianMs"] = need_number(layer["medianMs"], where, f"layer {i}: medianMs")
        layers.append(row)
    return int(count), layers


def tensorrt_version(code: str) -> str:
    """The banner's `v8601` -> `8.6.1`, `v100300` -> `10.3.0`, `v110002` -> `11.0.2` (NV_TENSORRT_VERSION:
    major x 1000 + minor x 100 + patch before TensorRT 10, major x 10000 + minor x 100 + patch since); a dotted
    `10.3.0.26` -> `10.3.0`."""
    if "." in code:
        return ".".join(code.split(".")[:3])
    n = int(code)
    major = n // 1000 if n < 10000 else n // 10000
    return f"{major}.{n // 100 % (10 if n < 10000 else 100)}.{n % 100}"


def read_log(path: str | os.PathLike) -> dict:
    """What the trtexec log says about the run: TensorRT version, command, device, compute capability, model
    file, precision, shapes, throughput (the first value of each; absent keys are left out)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ResultsError(f"trtexec log {str(p)!r}: cannot read it ({exc.strerror or exc})") from exc
    found: dict[str, str] = {}
    for line in text.splitlines():
        running = _RUNNING.search(line)
        if running:
            found.setdefault("tensorrt", tensorrt_version(running["v"]))
            found.setdefault("command", running["cmd"].strip())
            if (flag := _WARMUP_FLAG.search(running["cmd"])) is not None:
                found.setdefault("warmup_ms", flag["ms"])
            continue
        for pattern, key in ((_VERSION_LINE, "tensorrt"), (_WARMUP_LOGGED, "warmup_ms"), (_WARMUPS_DONE, "warmups")):
            if (hit := pattern.search(line)) is not None:
                found[key] = hit.group(1)  # the log's own statement wins over what the banner implied
        m = _LOG_LINE.match(line)
        key = re.sub(r"\s*\(.*\)$", "", m["key"]) if m else ""  # "Input build shape (profile 0)"
        if key in LOG_KEYS:
            found.setdefault(LOG_KEYS[key], m["value"])
    return found


def drop_warmups(times: list[dict], log: dict, where: str) -> tuple[list[dict], int, str]:
    """`(timed inferences, warm-ups dropped, how)` by trtexec's own rule: an inference whose compute started
    before the warm-up duration had passed (`startComputeMs < warmupMs`) is a warm-up. With a log the duration is
    the log's (or trtexec's default when it states none); without one only a legacy file (`endToEndMs`: the
    exporter that kept warm-ups) is filtered, with the default, and the note says so."""
    legacy = any("endToEndMs" in t for t in times)
    if not log and not legacy:
        return times, 0, "warm-ups: none in the file (TensorRT 8.6 and later export only the timed inferences)"
    warmup_ms = float(log.get("warmup_ms", DEFAULT_WARMUP_MS))
    source = (f"the log's {warmup_ms:g} ms" if "warmup_ms" in log else
              f"trtexec's default {warmup_ms:g} ms (no {'log' if not log else 'duration in the log'})")  # fmt: skip
    if not all(is_number(t.get("startComputeMs")) for t in times):
        return times, 0, "warm-ups: not told apart (the file has no startComputeMs): every inference kept"
    timed = [t for t in times if t["startComputeMs"] >= warmup_ms]
    if not timed:
        raise ResultsError(f"{where}: every inference started within the {warmup_ms:g} ms warm-up ({source}): no "
                           "timed inference to import")  # fmt: skip
    dropped = len(times) - len(timed)
    note = (f"warm-ups: {dropped} of {len(times)} inferences dropped (startComputeMs < warm-up duration, "
            f"trtexec's rule; {source})")  # fmt: skip
    if "warmups" in log and legacy and int(log["warmups"]) != dropped:
        note += f"; the log counted {log['warmups']} warm-up queries: are the times and the log from one run?"
    return timed, dropped, note


def read_run(times: str | os.PathLike, profile: str | os.PathLike | None = None,
             log: str | os.PathLike | None = None) -> TrtexecRun:  # fmt: skip
    """Read the files of one trtexec run (profile and log optional); warm-up inferences are dropped."""
    count, layers = read_profile(profile) if profile is not None else (None, [])
    found = read_log(log) if log is not None else {}
    timed, dropped, note = drop_warmups(read_times(times), found, str(times))
    return TrtexecRun(timed, count, layers, found, dropped, note)


def to_results(run: TrtexecRun, case: str, metric: str = "compute", suite: str = SUITE,
               git_sha: str | None = None) -> Results:  # fmt: skip
    """The run as a results file with one case `case` whose samples are the per-inference `metric` times
    (`compute`: GPU compute, `latency`: with the copies). No calibration workload exists on the device, so
    `regress` compares raw milliseconds (and says so); the suite's device is the GPU the log names."""
    if metric not in TIME_METRICS:
        raise ResultsError(f"unknown trtexec metric {metric!r}; choose one of: {', '.join(TIME_METRICS)}")
    device = run.log.get("device", "unknown GPU (no trtexec log given)")
    environment = {
        "source": "trtexec", "gpu": device, "device": "tensorrt", "tensorrt": run.log.get("tensorrt"),
        "compute_capability": run.log.get("compute_capability"), "precision": run.log.get("precision"),
        "git_sha": git_sha, "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    spec = {"model": run.log.get("model_file"), "recipe": "trtexec", "metric": TIME_METRICS[metric],
            "config": {}}  # fmt: skip
    samples = run.samples(metric)
    suite_spec = {"name": suite, "description": "TensorRT engine timed by trtexec on the device", "device": device,
                  "metric": "wall", "samples": len(samples), "cases": [case]}  # fmt: skip
    trtexec = {"command": run.log.get("command"), "profile_iterations": run.profile_count, "layers": run.layers,
               "warmups_dropped": run.warmups_dropped, "warmups": run.warmup_note}  # fmt: skip
    return Results(
        suite=suite_spec,
        environment=environment,
        calibration={"workload": None, "samples_ms": [], "cpu_ms": []},
        cases=[CaseResult(case, spec, samples, [])],
        extra={"trtexec": trtexec},
    )


def summary(run: TrtexecRun) -> dict[str, float]:
    """Median and p99 (`measure.stats.percentile`, swinprof's one rule) of the compute and latency times (ms), and
    the timed inferences counted."""
    out: dict[str, float] = {"inferences": len(run.times)}
    for metric in TIME_METRICS:
        s = run.samples(metric)
        out[f"{metric} median ms"] = statistics.median(s)
        out[f"{metric} p99 ms"] = percentile(s, 99)
    return out


def trtexec_report(run: TrtexecRun, case: str, results_path: str | None = None, top: int = 25):
    """A Report: the timing summary, the log's facts, and the per-layer times (slowest first, `top` of them)."""
    import pandas as pd

    from swinprof.report.document import Report

    report = Report(f"trtexec timings: {case}")
    report.settings.update({"case": case, "results file": results_path or "not written", **run.log})
    rows = [{"what": k, "value": round(v, 4) if isinstance(v, float) else v} for k, v in summary(run).items()]
    report.add("times", "Per-inference times (trtexec --exportTimes)", pd.DataFrame(rows),
               ["compute: GPU compute time of one inference; latency: with host<->device copies; ms; p99: linear "
                "interpolation between order statistics", run.warmup_note])  # fmt: skip
    if run.layers:
        frame = pd.DataFrame(run.layers).sort_values("averageMs", ascending=False)
        shown = frame.head(top).rename(columns={"averageMs": "average ms", "medianMs": "median ms",
                                                "timeMs": f"total ms ({run.profile_count} runs)",
                                                "percentage": "% of profiled time"})  # fmt: skip
        report.add("layers", f"Per-layer times (trtexec --exportProfile), slowest {len(shown)} of {len(frame)}",
                   shown, "profiled in a separate run (--separateProfileRun): per-layer timing adds overhead, so "
                   "the sum exceeds the timed latency")  # fmt: skip
    else:
        report.notes.append("no profile given (--profile): per-layer times not shown")
    return report
