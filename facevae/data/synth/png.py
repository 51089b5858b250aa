"""Grey PNG writer for the synthetic CK+ frames: PNG's UP filter, then Huffman-only deflate by zlib-ng.

A 640x490 frame with sensor noise is ~180 KB of near-incompressible residuals, so matching strings
buys nothing and entropy coding is all the work: zlib-ng's Huffman-only path does it in about half
the time of OpenCV's libpng/zlib with the same settings (1.35 vs 2.6 ms a frame, issue 15), for files
of the same size. Any PNG reader decodes them; the pixels are exactly the array written.
"""

from __future__ import annotations

import struct

import numpy as np
from zlib_ng import zlib_ng

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2  # each byte minus the byte above it (the row above the first row is zeros)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib_ng.crc32(data, zlib_ng.crc32(kind)))


_IEND = _chunk(b"IEND", b"")


def encode_grey_png(img: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of the HxW uint8 array ``img`` (deterministic: same array, same bytes)."""
    if img.dtype != np.uint8 or img.ndim != 2:
        raise ValueError(f"encode_grey_png needs an HxW uint8 array, got {img.dtype} of shape {img.shape}")
    h, w = img.shape
    rows = np.empty((h, w + 1), np.uint8)
    rows[:, 0] = _FILTER_UP
    rows[0, 1:] = img[0]
    np.subtract(img[1:], img[:-1], out=rows[1:, 1:])  # uint8 wraps modulo 256, as the filter defines
    z = zlib_ng.compressobj(1, zlib_ng.DEFLATED, 15, 9, zlib_ng.Z_HUFFMAN_ONLY)
    idat = z.compress(rows) + z.flush()
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grey, deflate, adaptive filters, no interlace
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", idat), _IEND))
