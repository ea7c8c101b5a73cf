"""PNG of a hosting-capacity study: capacity along the feeder and on the network graph.

Left: hosting capacity of every bus against its electrical distance from the source
(Thevenin impedance magnitude [ohm]), generation and load. Right: the network drawn at the bus
coordinates (geodata, else a networkx layout), buses coloured by generation hosting capacity.
Drawn with :mod:`.raster` (matplotlib is not a dependency).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from solvers.hosting_capacity.raster import Canvas, colormap, text_width
from solvers.hosting_capacity.static import HostingCapacityResult

WIDTH, HEIGHT = 1400, 700
MARGIN = 70
GEN_COLOR = (214, 39, 40)
LOAD_COLOR = (31, 119, 180)
GREY = (170, 170, 170)


def _ticks(low: float, high: float) -> list[float]:
    span = high - low if high > low else 1.0
    step = 10 ** math.floor(math.log10(span / 4))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _label(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def _scatter(canvas: Canvas, result: HostingCapacityResult, x0: int, x1: int) -> None:
    table = result.table
    y0, y1 = MARGIN, HEIGHT - MARGIN
    z = table.z_source_ohm.to_numpy(dtype=float)
    series = [
        (table[f"hc_{mode}_mw"].to_numpy(dtype=float), color, mode)
        for mode, color in (("gen", GEN_COLOR), ("load", LOAD_COLOR))
        if f"hc_{mode}_mw" in table
    ]
    values = np.concatenate([s[0] for s in series]) if series else np.zeros(1)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) * 1.05 if len(finite) and finite.max() > 0 else 1.0
    z_max = float(np.nanmax(z)) * 1.05 if np.nanmax(z) > 0 else 1.0

    def sx(v: np.ndarray) -> np.ndarray:
        return x0 + (x1 - x0) * v / z_max

    def sy(v: np.ndarray) -> np.ndarray:
        return y1 - (y1 - y0) * v / top

    black = (0, 0, 0)
    canvas.lines(
        np.array([x0, x0]), np.array([y0, y1]), np.array([x0, x1]), np.array([y1, y1]), black
    )
    for tick in _ticks(0.0, top):
        y = float(sy(np.array([tick]))[0])
        canvas.lines(np.array([x0 - 5]), np.array([y]), np.array([x0]), np.array([y]), black)
        label = _label(tick)
        canvas.text(x0 - 8 - text_width(label), int(y) - 3, label)
    for tick in _ticks(0.0, z_max):
        x = float(sx(np.array([tick]))[0])
        canvas.lines(np.array([x]), np.array([y1]), np.array([x]), np.array([y1 + 5]), black)
        label = _label(tick)
        canvas.text(int(x) - text_width(label) // 2, y1 + 9, label)
    for values_mw, color, _ in series:
        ok = np.isfinite(values_mw) & np.isfinite(z)
        colors = np.tile(np.array(color, dtype=np.uint8), (int(ok.sum()), 1))
        canvas.discs(sx(z[ok]), sy(values_mw[ok]), 2, colors)
    canvas.text(x0, y0 - 40, "HOSTING CAPACITY ALONG THE FEEDER", scale=2)
    canvas.text(x0 + 10, y0 + 6, "GENERATION", GEN_COLOR)
    canvas.text(x0 + 10, y0 + 18, "LOAD", LOAD_COLOR)
    canvas.text(x0 - 60, y0 - 14, "HC [MW]")
    canvas.text((x0 + x1) // 2 - 150, y1 + 24, "ELECTRICAL DISTANCE FROM THE SOURCE [OHM]")


def _network(canvas: Canvas, result: HostingCapacityResult, x0: int, x1: int) -> None:
    coords = result.coordinates
    assert coords is not None
    y0, y1 = MARGIN, HEIGHT - MARGIN - 30
    x, y = coords.x.to_numpy(dtype=float), coords.y.to_numpy(dtype=float)
    span = max(np.ptp(x), np.ptp(y), 1e-9)
    scale = min((x1 - x0) / max(np.ptp(x), 1e-9), (y1 - y0) / max(np.ptp(y), 1e-9), 1e12)
    scale = scale if np.isfinite(scale) else (x1 - x0) / span
    px = x0 + (x - x.min()) * scale
    py = y1 - (y - y.min()) * scale
    position = {int(b): i for i, b in enumerate(coords.index)}
    edges = [(position[a], position[b]) for a, b in result.edges if a in position and b in position]
    if edges:
        a, b = np.array(edges).T
        canvas.lines(px[a], py[a], px[b], py[b], GREY)
    mode = "gen" if "hc_gen_mw" in result.table else "load"
    hc = result.table[f"hc_{mode}_mw"].reindex(coords.index).to_numpy(dtype=float)
    finite = hc[np.isfinite(hc)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    shown = np.isfinite(hc)
    radius = 2 if len(hc) > 500 else 4
    canvas.discs(px[shown], py[shown], radius, colormap(hc[shown], low, high))
    dark = np.tile(np.array((0, 0, 0), dtype=np.uint8), (int((~shown).sum()), 1))
    canvas.discs(px[~shown], py[~shown], radius + 1, dark)
    title = "GENERATION" if mode == "gen" else "LOAD"
    canvas.text(x0, MARGIN - 40, f"{title} HOSTING CAPACITY ON THE NETWORK", scale=2)
    bar_y = HEIGHT - MARGIN + 5
    steps = np.linspace(low, high, x1 - x0 - 200)
    for i, color in enumerate(colormap(steps, low, high)):
        rgb = (int(color[0]), int(color[1]), int(color[2]))
        canvas.rect(x0 + 100 + i, bar_y, x0 + 101 + i, bar_y + 12, rgb)
    canvas.text(x0, bar_y + 3, f"{_label(low)} MW")
    canvas.text(x1 - 95, bar_y + 3, f"{_label(high)} MW")
    canvas.text(x0 + 100, bar_y + 18, "BLACK: SOURCE BUS (NO LIMIT IN THIS MODEL)")


def plot_hosting_capacity(result: HostingCapacityResult, path: Path) -> None:
    """Write the two-panel PNG of ``result`` to ``path``."""
    canvas = Canvas(WIDTH, HEIGHT)
    canvas.text(MARGIN, 8, f"{result.feeder}  PF {result.pf:g}", scale=2)
    _scatter(canvas, result, MARGIN + 40, WIDTH // 2 - 30)
    _network(canvas, result, WIDTH // 2 + 30, WIDTH - 30)
    canvas.save_png(path)
