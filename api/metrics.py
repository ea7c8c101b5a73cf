"""Prometheus text-format metrics (exposition format 0.0.4), without extra dependencies.

Request counts and latency histograms per method, route template and status, and gauges the
service reads from the database at scrape time.
"""

from __future__ import annotations

import threading
from collections import defaultdict

#: latency histogram buckets [s]
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(pairs: dict[str, str]) -> str:
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs.items()
    )
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """Thread-safe request metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request of ``seconds`` [s]."""
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            key = (method, route)
            buckets = self._buckets.setdefault(key, [0] * len(BUCKETS_S))
            for i, bound in enumerate(BUCKETS_S):
                if seconds <= bound:
                    buckets[i] += 1
            self._sum[key] += seconds
            self._count[key] += 1

    def render(
        self, gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]
    ) -> str:
        """The exposition text, with extra ``gauges``: name -> (help, labels -> value)."""
        lines = [
            "# HELP gridderms_http_requests_total HTTP requests by method, route and status.",
            "# TYPE gridderms_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                labels = _labels({"method": method, "route": route, "status": status})
                lines.append(f"gridderms_http_requests_total{labels} {n}")
            lines += [
                "# HELP gridderms_http_request_duration_seconds HTTP request latency.",
                "# TYPE gridderms_http_request_duration_seconds histogram",
            ]
            for (method, route), buckets in sorted(self._buckets.items()):
                base = {"method": method, "route": route}
                for bound, n in zip(BUCKETS_S, buckets, strict=True):
                    labels = _labels({**base, "le": f"{bound:g}"})
                    lines.append(f"gridderms_http_request_duration_seconds_bucket{labels} {n}")
                count = self._count[(method, route)]
                labels = _labels({**base, "le": "+Inf"})
                lines.append(f"gridderms_http_request_duration_seconds_bucket{labels} {count}")
                lines.append(
                    f"gridderms_http_request_duration_seconds_sum{_labels(base)} "
                    f"{self._sum[(method, route)]:.6f}"
                )
                lines.append(
                    f"gridderms_http_request_duration_seconds_count{_labels(base)} {count}"
                )
        for name, (help_text, values) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for label_pairs, value in sorted(values.items()):
                labels = _labels(dict(label_pairs)) if label_pairs else ""
                lines.append(f"{name}{labels} {value:g}")
        return "\n".join(lines) + "\n"
