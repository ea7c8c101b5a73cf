"""A minimal RGB raster canvas written as PNG with the standard library (no matplotlib here).

Lines, discs, rectangles and 5x7 bitmap text (upper case, digits, a little punctuation): enough
for a labelled scatter plot and a network drawing. PNG encoding is ``zlib`` + ``struct``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

Color = tuple[int, int, int]

#: 5x7 glyphs, one 5-bit row per entry (MSB left)
_FONT: dict[str, tuple[int, ...]] = {
    "0": (14, 17, 19, 21, 25, 17, 14),
    "1": (4, 12, 4, 4, 4, 4, 14),
    "2": (14, 17, 1, 2, 4, 8, 31),
    "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2),
    "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14),
    "7": (31, 1, 2, 4, 8, 8, 8),
    "8": (14, 17, 17, 14, 17, 17, 14),
    "9": (14, 17, 17, 15, 1, 2, 12),
    "A": (14, 17, 17, 31, 17, 17, 17),
    "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14),
    "D": (28, 18, 17, 17, 17, 18, 28),
    "E": (31, 16, 16, 30, 16, 16, 31),
    "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15),
    "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14),
    "J": (7, 2, 2, 2, 2, 18, 12),
    "K": (17, 18, 20, 24, 20, 18, 17),
    "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17),
    "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14),
    "P": (30, 17, 17, 30, 16, 16, 16),
    "Q": (14, 17, 17, 17, 21, 18, 13),
    "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30),
    "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14),
    "V": (17, 17, 17, 17, 17, 10, 4),
    "W": (17, 17, 17, 21, 21, 21, 10),
    "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 17, 10, 4, 4, 4),
    "Z": (31, 1, 2, 4, 8, 16, 31),
    " ": (0, 0, 0, 0, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 12, 12),
    ",": (0, 0, 0, 0, 12, 4, 8),
    "-": (0, 0, 0, 31, 0, 0, 0),
    ":": (0, 12, 12, 0, 12, 12, 0),
    "(": (2, 4, 8, 8, 8, 4, 2),
    ")": (8, 4, 2, 2, 2, 4, 8),
    "/": (0, 1, 2, 4, 8, 16, 0),
    "%": (24, 25, 2, 4, 8, 19, 3),
    "_": (0, 0, 0, 0, 0, 0, 31),
    "=": (0, 0, 31, 0, 31, 0, 0),
    "+": (0, 4, 4, 31, 4, 4, 0),
    "[": (14, 8, 8, 8, 8, 8, 14),
    "]": (14, 2, 2, 2, 2, 2, 14),
    "<": (2, 4, 8, 16, 8, 4, 2),
    ">": (8, 4, 2, 1, 2, 4, 8),
}

#: anchor colours of a viridis-like colour map (low -> high)
_CMAP = np.array(
    [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=float
)


def colormap(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """RGB colours (n x 3, uint8) of ``values`` on a viridis-like map from ``low`` to ``high``."""
    span = high - low if high > low else 1.0
    t = np.clip((np.asarray(values, dtype=float) - low) / span, 0.0, 1.0)
    t = np.where(np.isfinite(t), t, 0.0) * (len(_CMAP) - 1)
    i = np.minimum(t.astype(int), len(_CMAP) - 2)
    f = (t - i)[:, None]
    return ((1 - f) * _CMAP[i] + f * _CMAP[i + 1]).astype(np.uint8)


class Canvas:
    """An RGB image ``height x width`` (origin top left), white at the start."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255, dtype=np.uint8)

    @property
    def width(self) -> int:
        """Width [px]."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height [px]."""
        return int(self.pixels.shape[0])

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the rectangle ``[x0, x1) x [y0, y1)``."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x1 > x0 and y1 > y0:
            self.pixels[y0:y1, x0:x1] = color

    def lines(
        self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, color: Color
    ) -> None:
        """Draw straight segments (one pixel wide), all at once."""
        length = np.maximum(np.abs(x1 - x0), np.abs(y1 - y0)).astype(int) + 1
        if not len(length):
            return
        owner = np.repeat(np.arange(len(length)), length)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(length) - length, length)
        t = offset / np.maximum(length[owner] - 1, 1)
        xs = np.rint(x0[owner] + t * (x1 - x0)[owner]).astype(int)
        ys = np.rint(y0[owner] + t * (y1 - y0)[owner]).astype(int)
        inside = (xs >= 0) & (xs < self.width) & (ys >= 0) & (ys < self.height)
        self.pixels[ys[inside], xs[inside]] = color

    def discs(self, x: np.ndarray, y: np.ndarray, radius: int, colors: np.ndarray) -> None:
        """Filled discs at ``(x, y)`` with one colour per disc (n x 3)."""
        dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        keep = dx**2 + dy**2 <= radius**2 + radius
        dx, dy = dx[keep], dy[keep]
        xs = (np.rint(x)[:, None] + dx[None, :]).astype(int).ravel()
        ys = (np.rint(y)[:, None] + dy[None, :]).astype(int).ravel()
        rgb = np.repeat(np.asarray(colors, dtype=np.uint8), len(dx), axis=0)
        inside = (xs >= 0) & (xs < self.width) & (ys >= 0) & (ys < self.height)
        self.pixels[ys[inside], xs[inside]] = rgb[inside]

    def text(self, x: int, y: int, text: str, color: Color = (0, 0, 0), scale: int = 1) -> None:
        """Write ``text`` (upper-cased; unknown characters as blanks) from ``(x, y)``."""
        for position, char in enumerate(text.upper()):
            glyph = _FONT.get(char, _FONT[" "])
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (16 >> col):
                        px = x + (position * 6 + col) * scale
                        py = y + row * scale
                        self.rect(px, py, px + scale, py + scale, color)

    def save_png(self, path: Path) -> None:
        """Write the image as an 8-bit RGB PNG."""
        raw = b"".join(b"\x00" + row.tobytes() for row in self.pixels)

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        path.write_bytes(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b"")
        )


def text_width(text: str, scale: int = 1) -> int:
    """Width of ``text`` written by :meth:`Canvas.text` [px]."""
    return len(text) * 6 * scale
