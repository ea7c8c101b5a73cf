"""Pictures of results, drawn with matplotlib (headless, off the pyplot state machine).

One module per picture: :mod:`.hosting_capacity` (a hosting-capacity study's PNG). Each
module imports matplotlib inside its drawing function, so importing it costs nothing until a
picture is drawn, and builds its own :class:`matplotlib.figure.Figure` with an Agg canvas, so
drawing is safe in threads and servers. The solvers compute; they draw nothing.
"""
