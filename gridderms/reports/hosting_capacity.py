"""PNG of a hosting-capacity study: capacity along the feeder and on the network graph.

Left: hosting capacity of every bus against its electrical distance from the source
(Thevenin impedance magnitude [ohm]), generation and load. Right: the network drawn at the bus
coordinates (geodata, else a networkx layout), buses coloured by generation hosting capacity
(load hosting capacity in a load-only study), with a colour bar [MW].
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from solvers.hosting_capacity.static import HostingCapacityResult

if TYPE_CHECKING:  # matplotlib is imported when a picture is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: picture size [px]: the figure is (WIDTH_PX / DPI) x (HEIGHT_PX / DPI) inches
WIDTH_PX, HEIGHT_PX = 1400, 700
#: resolution [dots per inch]
DPI = 100
#: colour of each mode's points (matplotlib's tab:red, tab:blue)
MODE_COLORS = {"gen": "#d62728", "load": "#1f77b4"}
MODE_NAMES = {"gen": "generation", "load": "load"}
#: buses beyond which the network is drawn with smaller markers
LARGE_NETWORK = 500


def plot_hosting_capacity(result: HostingCapacityResult, path: Path) -> None:
    """Write the two-panel PNG of ``result`` (:data:`WIDTH_PX` x :data:`HEIGHT_PX`).

    Parameters
    ----------
    result : HostingCapacityResult
        A static study with bus coordinates (``result.coordinates`` not ``None``).
    path : Path
        The PNG file to (over)write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = hosting_capacity_figure(result)
    FigureCanvasAgg(figure).print_png(path)


def hosting_capacity_figure(result: HostingCapacityResult) -> Figure:
    """The two-panel figure of ``result``, on no canvas and outside pyplot's state.

    Parameters
    ----------
    result : HostingCapacityResult
        A static study with bus coordinates (``result.coordinates`` not ``None``).

    Returns
    -------
    matplotlib.figure.Figure
        :data:`WIDTH_PX` x :data:`HEIGHT_PX` at :data:`DPI`.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    along, network = figure.subplots(1, 2, width_ratios=(1.0, _network_width(result)))
    figure.suptitle(
        f"{result.feeder}: hosting capacity at power factor {result.pf:g}",
        fontsize="x-large",
        fontweight="bold",
    )
    _along_the_feeder(along, result)
    _on_the_network(figure, network, result)
    return figure


def _network_width(result: HostingCapacityResult) -> float:
    """Width of the network panel relative to the other: wider for a wide network drawing."""
    coords = result.coordinates
    assert coords is not None, "a hosting-capacity picture needs bus coordinates"
    width, height = float(np.ptp(coords.x)), float(np.ptp(coords.y))
    return 1.1 if width <= 1.5 * height else 1.4


def _along_the_feeder(axes: Axes, result: HostingCapacityResult) -> None:
    """Scatter of each mode's capacity [MW] against the distance from the source [ohm]."""
    table = result.table
    z = table.z_source_ohm.to_numpy(dtype=float)
    size = 12 if len(table) > LARGE_NETWORK else 28
    for mode, color in MODE_COLORS.items():
        column = f"hc_{mode}_mw"
        if column not in table:
            continue
        values = table[column].to_numpy(dtype=float)
        shown = np.isfinite(values) & np.isfinite(z)
        axes.scatter(z[shown], values[shown], s=size, color=color, label=MODE_NAMES[mode], zorder=3)
    axes.set_title("Hosting capacity along the feeder")
    axes.set_xlabel(r"electrical distance from the source $|Z_\mathrm{Thevenin}|$ [Ω]")
    axes.set_ylabel("hosting capacity [MW]")
    axes.set_xlim(left=0.0)
    axes.set_ylim(bottom=0.0)
    axes.grid(True, color="0.9", zorder=0)
    axes.set_axisbelow(True)
    if axes.collections:
        axes.legend(loc="upper right", title="capacity for new")


def _on_the_network(figure: Figure, axes: Axes, result: HostingCapacityResult) -> None:
    """The branches and buses at their coordinates, buses coloured by capacity [MW]."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    coords = result.coordinates
    assert coords is not None, "a hosting-capacity picture needs bus coordinates"
    x, y = coords.x.to_numpy(dtype=float), coords.y.to_numpy(dtype=float)
    position = {int(b): i for i, b in enumerate(coords.index)}
    segments = [
        ((x[position[a]], y[position[a]]), (x[position[b]], y[position[b]]))
        for a, b in result.edges
        if a in position and b in position
    ]
    axes.add_collection(LineCollection(segments, colors="0.65", linewidths=0.8, zorder=1))
    mode = "gen" if "hc_gen_mw" in result.table else "load"
    studied = coords.index.isin(result.table.index)
    hc = result.table[f"hc_{mode}_mw"].reindex(coords.index).to_numpy(dtype=float)
    finite = np.isfinite(hc)
    low, high = (float(hc[finite].min()), float(hc[finite].max())) if finite.any() else (0.0, 1.0)
    norm = Normalize(low, high if high > low else low + 1e-9)
    size = 7 if len(coords) > LARGE_NETWORK else 45
    colored = axes.scatter(
        x[finite], y[finite], c=hc[finite], cmap="viridis", norm=norm, s=size, zorder=3
    )
    unlimited = studied & ~finite
    if unlimited.any():
        axes.scatter(
            x[unlimited],
            y[unlimited],
            s=size * 1.6,
            color="black",
            zorder=4,
            label="source bus (no limit in this model)",
        )
    if not studied.all():
        axes.scatter(
            x[~studied], y[~studied], s=size / 2, color="0.8", zorder=2, label="not studied"
        )
    name = MODE_NAMES[mode]
    axes.set_title(f"{name.capitalize()} hosting capacity on the network")
    axes.autoscale_view()
    axes.set_aspect("equal", adjustable="box")
    axes.set_axis_off()  # geodata or a layout: the positions carry no unit worth reading
    if unlimited.any() or not studied.all():
        axes.legend(
            loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=2, fontsize="small", frameon=False
        )
    # beside the drawn box (the equal aspect shrinks it), not beside the layout's slot
    bar = figure.colorbar(colored, cax=axes.inset_axes((1.03, 0.05, 0.03, 0.9)))
    bar.set_label(f"{name} hosting capacity [MW]")
