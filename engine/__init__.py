"""elbench engine: all computation and file formats. Imports no Qt, vispy or pyqtgraph."""
