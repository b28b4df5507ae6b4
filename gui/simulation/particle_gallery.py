"""A grid of particle thumbnails read from an MRC stack (the first images of a dataset).

Images are read through a memory map (only the shown images are touched) and drawn grey
scale, contrast from each image's 1st to 99th percentile, protein white as stored.

Example::

    gallery = ParticleGallery(count=12, columns=6)
    gallery.show_stack("dataset/particles/particles_00000.mrcs")   # True when shown
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel

THUMBNAIL_PX = 96


class ParticleGallery(QGroupBox):
    """``count`` thumbnails in rows of ``columns``; ``thumbnails`` are the QLabels."""

    def __init__(self, title: str = "First particles", count: int = 12, columns: int = 6, parent=None):
        super().__init__(title, parent)
        grid = QGridLayout(self)
        self.thumbnails: list[QLabel] = []
        for i in range(count):
            label = QLabel()
            label.setFixedSize(THUMBNAIL_PX, THUMBNAIL_PX)
            label.setStyleSheet("background: #202020;")
            grid.addWidget(label, i // columns, i % columns)
            self.thumbnails.append(label)

    def clear(self) -> None:
        for label in self.thumbnails:
            label.clear()

    def show_stack(self, path) -> bool:
        """Show the first images of the MRC stack ``path``; False if it cannot be read."""
        import mrcfile

        try:
            with mrcfile.mmap(path, mode="r") as mrc:
                data = mrc.data
                images = np.array(data[:len(self.thumbnails)] if data.ndim == 3 else data[None])
        except (OSError, ValueError):
            return False
        self.show_images(images)
        return True

    def show_images(self, images: np.ndarray) -> None:
        """Show (B, D, D) images (B may be fewer than the thumbnails)."""
        self.clear()
        for label, image in zip(self.thumbnails, images):
            label.setPixmap(to_pixmap(image).scaled(THUMBNAIL_PX, THUMBNAIL_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))


def to_pixmap(image: np.ndarray) -> QPixmap:
    """Grey-scale pixmap of a float image [y, x], contrast from its 1st to 99th percentile."""
    lo, hi = np.percentile(image, [1, 99])
    scaled = np.clip((image - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    data = np.ascontiguousarray((scaled * 255).astype(np.uint8))
    h, w = data.shape
    return QPixmap.fromImage(QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy())
