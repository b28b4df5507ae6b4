"""The comparison table (paper Table 1, live): one row per method, sortable, names editable,
then the control rows (ground truth, the ideal observer's ceiling, random) in grey italics.

Columns (gui.comparison.table_columns): method name (double-click or F2 to rename), loader
kind, accuracy (%) with its 95 % confidence interval, standard deviation of the per-well
recall (%), the accuracy as a fraction of the ideal observer's ceiling, particles scored,
output dimensions used, and CryoBench's latent metrics of all output dimensions
(neighbourhood similarity, information imbalance both ways; "…" while they are computed in
the background). Numbers sort as numbers (``SORT_ROLE``); a method the settings cannot score
shows "—" and the reason in its tooltip. The selected row is the comparison's current method,
both ways.

Control rows (gui.comparison.control_rows, shown for datasets made by elbench) sit below the
methods whatever the sort order, cannot be selected or renamed (they are no method: the
lineage view, selection and report are the methods'), and read as a footer: the floor and the
ceiling each method's number sits between.

Example::

    table = ComparisonTable(model)           # a gui.comparison.comparison_model.ComparisonModel
    table.cell_text(0, COL_ACCURACY)         # '61.20' (row in the model's order)
    table.control_text("random", COL_ACCURACY)
    table.sortByColumn(COL_ACCURACY, Qt.SortOrder.DescendingOrder)
"""
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from gui.comparison.table_columns import (COL_ACCURACY, COL_CI, COL_DIMS, COL_FRACTION, COL_KIND,  # noqa: F401
                                          COL_METHOD, COL_SCORED, COL_STD, COLUMNS, HEADER_TIPS, LATENT_COLUMNS,
                                          NO_VALUE, NUMBER_COLUMNS, control_text, method_sort_value, method_text,
                                          short_reason)

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CONTROL_ROLE = Qt.ItemDataRole.UserRole + 2   # True on a control row (the proxy keeps them last)
ERROR_COLOUR = "#b00020"
CONTROL_COLOUR = "#6a6a6a"
CONTROL_BACKGROUND = "#f1f1f1"


class MethodTableModel(QAbstractTableModel):
    """Qt item model over ``ComparisonModel.methods`` (rows in the comparison's order), then
    ``ComparisonModel.controls.rows``."""

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self._n_controls = len(comparison.controls.rows)   # rows Qt was told of (a table made late sees them)
        comparison.sigMethodsChanged.connect(self._reset)
        comparison.sigDatasetChanged.connect(self._reset)
        comparison.sigScoresChanged.connect(self._scores_changed)
        comparison.sigLabelChanged.connect(self._label_changed)
        comparison.controls.sigChanged.connect(self._controls_changed)
        comparison.latent.sigChanged.connect(self._scores_changed)

    @property
    def n_methods(self) -> int:
        return len(self.comparison.methods)

    def _reset(self, *_):
        self.beginResetModel()
        self._n_controls = len(self.comparison.controls.rows)
        self.endResetModel()

    def _controls_changed(self) -> None:
        if len(self.comparison.controls.rows) != self._n_controls:
            self._reset()
        else:
            self._scores_changed()

    def _scores_changed(self) -> None:
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def _label_changed(self, row: int, _label: str) -> None:
        self.dataChanged.emit(self.index(row, COL_METHOD), self.index(row, COL_METHOD))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self.n_methods + self._n_controls

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS[section]
        return None

    def flags(self, index):
        if index.row() >= self.n_methods:
            return Qt.ItemFlag.ItemIsEnabled   # a control: not selectable, not editable
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == COL_METHOD:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if index.row() >= self.n_methods:
            return self._control_data(index, role)
        entry = self.comparison.methods[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == COL_METHOD:
                return entry.label
            return method_text(entry, col, *self._method_extras(entry, col), self.comparison.latent.pending(entry))
        if role == SORT_ROLE:
            return method_sort_value(entry, col, *self._method_extras(entry, col))
        if role == CONTROL_ROLE:
            return False
        if role == Qt.ItemDataRole.TextAlignmentRole and col in NUMBER_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and entry.error:
            return QColor(ERROR_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(entry, col, self.comparison)
        return None

    def _method_extras(self, entry, col: int) -> tuple:
        """(fraction of the ceiling, latent metrics) of a method, each only where ``col`` needs it."""
        fraction = (self.comparison.controls.fraction_of_ceiling(entry.scores.accuracy)
                    if col == COL_FRACTION and entry.scores is not None else None)
        latent = self.comparison.latent.metrics_of(entry) if col in LATENT_COLUMNS else None
        return fraction, latent

    def _control_data(self, index, role):
        rows = self.comparison.controls.rows
        position = index.row() - self.n_methods
        if position >= len(rows):
            return None
        row, col = rows[position], index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            latent = self.comparison.latent.control_metrics(row) if col in LATENT_COLUMNS else None
            return control_text(row, col, latent)
        if role == SORT_ROLE:
            return position
        if role == CONTROL_ROLE:
            return True
        if role == Qt.ItemDataRole.TextAlignmentRole and col in NUMBER_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(CONTROL_COLOUR)
        if role == Qt.ItemDataRole.BackgroundRole:
            return QColor(CONTROL_BACKGROUND)
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.label} ({row.kind}): {row.note}" if row.note else row.label
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != COL_METHOD or index.row() >= self.n_methods:
            return False
        return self.comparison.set_label(index.row(), str(value))


def _tooltip(entry, col: int, comparison) -> str:
    lines = [entry.path]
    if entry.error:
        lines.append(entry.error)
    elif entry.scores is not None:
        lines += list(entry.scores.notes)
    if col == COL_FRACTION and entry.scores is not None:
        controls = comparison.controls
        lines.append("of the ideal observer's ceiling" if controls.fraction_of_ceiling(entry.scores.accuracy) is not None
                     else "no ceiling for these settings: " + (controls.ceiling_reason or
                                                               "compute the ideal observer (above the table)"))
    if col in LATENT_COLUMNS:
        latent = comparison.latent.metrics_of(entry)
        error = comparison.latent.error_of(entry)
        if latent is not None:
            lines.append(f"latent metrics of all {latent.output_dims} output dims on {latent.n_used:,} of "
                         f"{latent.n_particles:,} particles (seed {latent.seed})")
        elif error:
            lines.append(f"latent metrics: {error}")
    return "\n".join(lines)


class ControlsLastProxy(QSortFilterProxyModel):
    """Sorts the methods by ``SORT_ROLE``; the control rows stay below them, in their own order,
    whatever the column and direction (Qt reverses lessThan for a descending sort, so the
    group test is reversed with it)."""

    def lessThan(self, left, right) -> bool:
        left_control, right_control = bool(left.data(CONTROL_ROLE)), bool(right.data(CONTROL_ROLE))
        descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
        if left_control != right_control:
            return left_control if descending else right_control
        if left_control:
            return (left.row() > right.row()) if descending else (left.row() < right.row())
        return super().lessThan(left, right)


class ComparisonTable(QTableView):
    """Sortable view of the methods; selecting a row makes it the current method."""

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self.source_model = MethodTableModel(comparison, self)
        self.proxy = ControlsLastProxy(self)
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

    def control_text(self, label: str, column: int) -> str:
        """What the table shows in ``column`` for the control row ``label`` ("ground truth"…)."""
        labels = [r.label for r in self.comparison.controls.rows]
        return self.cell_text(self.source_model.n_methods + labels.index(label), column)

    def _on_row_changed(self, current, _previous) -> None:
        if current.isValid() and self.proxy.mapToSource(current).row() < self.source_model.n_methods:
            self.comparison.set_current(self.proxy.mapToSource(current).row())

    def _show_current(self, position: int) -> None:
        if position < 0 or position >= self.source_model.rowCount():
            return
        row = self.view_row(position)
        if self.currentIndex().row() != row:
            self.selectRow(row)
