"""The comparison table (paper Table 1, live): one row per method, sortable, names editable.

Columns: method name (double-click or F2 to rename), loader kind, accuracy (%), standard
deviation of the per-well recall (%), particles scored, output dimensions used. Numbers sort
as numbers (``SORT_ROLE``); a method the settings cannot score shows "—" and the reason in
its tooltip. The selected row is the comparison's current method, both ways.

Example::

    table = ComparisonTable(model)           # a gui.comparison.comparison_model.ComparisonModel
    table.cell_text(0, COL_ACCURACY)         # '61.20' (row in the model's order)
    table.sortByColumn(COL_ACCURACY, Qt.SortOrder.DescendingOrder)
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

COLUMNS = ("Method", "Kind", "Accuracy %", "Std recall %", "Particles", "Dims")
COL_METHOD, COL_KIND, COL_ACCURACY, COL_STD, COL_SCORED, COL_DIMS = range(len(COLUMNS))
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NO_VALUE = "—"
ERROR_COLOUR = "#b00020"


class MethodTableModel(QAbstractTableModel):
    """Qt item model over ``ComparisonModel.methods`` (rows in the comparison's order)."""

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        comparison.sigMethodsChanged.connect(self._reset)
        comparison.sigDatasetChanged.connect(self._reset)
        comparison.sigScoresChanged.connect(self._scores_changed)
        comparison.sigLabelChanged.connect(self._label_changed)

    def _reset(self, *_):
        self.beginResetModel()
        self.endResetModel()

    def _scores_changed(self) -> None:
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def _label_changed(self, row: int, _label: str) -> None:
        self.dataChanged.emit(self.index(row, COL_METHOD), self.index(row, COL_METHOD))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.comparison.methods)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS[section]
        return None

    def flags(self, index):
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == COL_METHOD:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        entry = self.comparison.methods[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return entry.label if col == COL_METHOD else _text(entry, col)
        if role == SORT_ROLE:
            return _sort_value(entry, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_ACCURACY, COL_STD, COL_SCORED):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and entry.error:
            return QColor(ERROR_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(entry)
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != COL_METHOD:
            return False
        return self.comparison.set_label(index.row(), str(value))


_HEADER_TIPS = (
    "Method name (double-click to edit)",
    "Loader used to read the output",
    "Mean recall over the wells scored (the paper's Accuracy)",
    "Population standard deviation of the per-well recalls",
    "Particles that entered the metric (after core and well filters)",
    "Output dimensions the metric used (0-based) / dimensions in the output",
)


def _text(entry, col: int) -> str:
    s = entry.scores
    if col == COL_KIND:
        return entry.kind
    if s is None:
        if col == COL_ACCURACY and entry.error:
            return f"{NO_VALUE} ({short_reason(entry)})"
        return NO_VALUE
    if col == COL_ACCURACY:
        return f"{100 * s.accuracy:.2f}"
    if col == COL_STD:
        return f"{100 * s.recall_std:.2f}"
    if col == COL_SCORED:
        return f"{s.n_scored:,}"
    if col == COL_DIMS:
        n = entry.output.n_dims
        return f"all {n}" if len(s.dims) == n and n > 2 else f"{','.join(map(str, s.dims))} of {n}"
    return ""


def short_reason(entry) -> str:
    """Why ``entry`` is not scored, short enough for a table cell: "dims 0,2: output has 2
    dims" when the settings ask for a dimension the output lacks, else the engine's message
    (cut to 60 characters; the tooltip has it whole)."""
    settings = entry.scored_with
    n = entry.output.n_dims
    if settings is not None and settings.dims is not None and max(settings.dims) >= n:
        return f"dims {settings.dims_text}: output has {n} dim{'s' if n != 1 else ''}"
    text = entry.error.strip().splitlines()[0] if entry.error.strip() else "not scored"
    return text if len(text) <= 60 else text[:59] + "…"


def _sort_value(entry, col: int):
    s = entry.scores
    if col == COL_METHOD:
        return entry.label.lower()
    if col == COL_KIND:
        return entry.kind
    if s is None:
        return -1.0
    return {COL_ACCURACY: s.accuracy, COL_STD: s.recall_std, COL_SCORED: float(s.n_scored),
            COL_DIMS: float(len(s.dims))}[col]


def _tooltip(entry) -> str:
    lines = [entry.path]
    if entry.error:
        lines.append(entry.error)
    elif entry.scores is not None:
        lines += list(entry.scores.notes)
    return "\n".join(lines)


class ComparisonTable(QTableView):
    """Sortable view of the methods; selecting a row makes it the current method."""

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self.source_model = MethodTableModel(comparison, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.source_model)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # model order until a header is clicked
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.SelectedClicked)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_METHOD, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        self.selectionModel().currentRowChanged.connect(self._on_row_changed)
        comparison.sigCurrentChanged.connect(self._show_current)
        comparison.sigMethodsChanged.connect(lambda: self._show_current(comparison.current))

    def source_row(self, view_row: int) -> int:
        return self.proxy.mapToSource(self.proxy.index(view_row, 0)).row()

    def view_row(self, source_row: int) -> int:
        return self.proxy.mapFromSource(self.source_model.index(source_row, 0)).row()

    def cell_text(self, source_row: int, column: int) -> str:
        """What the table shows for method ``source_row`` (the model's order) in ``column``."""
        return self.source_model.data(self.source_model.index(source_row, column))

    def _on_row_changed(self, current, _previous) -> None:
        if current.isValid():
            self.comparison.set_current(self.proxy.mapToSource(current).row())

    def _show_current(self, position: int) -> None:
        if position < 0 or position >= self.source_model.rowCount():
            return
        row = self.view_row(position)
        if self.currentIndex().row() != row:
            self.selectRow(row)
