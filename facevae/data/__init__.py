"""Data: raw datasets -> prepared cache -> LightningDataModule."""

import cv2

# A process forked after the parent ran a multi-threaded OpenCV call (Haar detection, albumentations)
# hangs on its first OpenCV call. facevae parallelises with processes instead (generation,
# preparation), so OpenCV's own thread pool stays off from the moment facevae.data is imported.
cv2.setNumThreads(1)
