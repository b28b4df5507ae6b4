"""A form for one method's options, generated from its options dataclass.

Each :class:`engine.methods.catalog.OptionField` becomes an editor: a spin box for an int or
a float, a check box for a bool, a line edit for a str. An optional field (None means
"decide for me") shows "auto": the spin box's lowest value, the check box's third (partial)
state, an empty line edit. Defaults come from the dataclass; each editor's tooltip is the
options docstring's sentence about it (:func:`option_help`). The form does not validate:
``Method.options(**form.values())`` does, and the caller shows its ValueError.

Example::

    form = OptionsForm(METHODS["cryodrgn"])
    form.sigChanged.connect(update_preview)
    form.set_value("epochs", 1)
    METHODS["cryodrgn"].options(**form.values())     # CryodrgnOptions(epochs=1, ...)
"""
from __future__ import annotations

import fnmatch
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

AUTO = "auto"
INT_MAX = 2**31 - 1
FLOAT_MAX = 1e9
FLOAT_DECIMALS = 3
# a docstring clause "name: what it means" starts the docstring or follows "; " or ". "; the
# name part is short and holds only names, spaces, "/", "," and "*" ("enc/dec dim x layers")
_HEADING = re.compile(r"(?:^|(?<=[;.])\s+)([A-Za-z_][\w /,*]{0,40}?):\s")


def option_help(options_type: type) -> dict[str, str]:
    """What the options docstring says of each field: ``{name: sentence}`` for the fields a
    clause ``"name: ..."`` names, alone (``zdim:``), in a list (``a / b:``), by a pattern
    (``body_*:``) or by its parts (``enc/dec dim x layers:`` names ``enc_dim``)."""
    text = " ".join((options_type.__doc__ or "").split())
    headings = list(_HEADING.finditer(text))
    clauses = []
    for k, match in enumerate(headings):
        end = headings[k + 1].start() if k + 1 < len(headings) else len(text)
        words = set(re.split(r"[\s/,]+", match.group(1).strip()))
        clauses.append((words, text[match.end():end].strip().rstrip(";.").strip()))
    result = {}
    for name in getattr(options_type, "__dataclass_fields__", {}):
        for words, sentence in clauses:
            if any(fnmatch.fnmatchcase(name, word) for word in words) or set(name.split("_")) <= words:
                result[name] = sentence
                break
    return result


class OptionsForm(QWidget):
    """The editors of ``method``'s options (see the module docstring).

    Signals: sigChanged(): any value was edited."""

    sigChanged = Signal()

    def __init__(self, method, parent=None):
        super().__init__(parent)
        self.method = method
        self.fields = {f.name: f for f in method.option_fields()}
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        helps = option_help(method.options_type)
        for field in self.fields.values():
            editor = self._editor(field)
            tip = helps.get(field.name, "")
            default = AUTO if field.default is None else field.default
            editor.setToolTip(f"<p>{tip}</p><p>default: {default}</p>" if tip else f"default: {default}")
            self.editors[field.name] = editor
            layout.addRow(field.name, editor)
        for name, field in self.fields.items():
            self.set_value(name, field.default)

    def _editor(self, field) -> QWidget:
        if field.kind is bool:
            box = QCheckBox()
            box.setTristate(field.optional)
            box.checkStateChanged.connect(lambda state, b=box: (
                b.setText(AUTO if state == Qt.CheckState.PartiallyChecked else ""), self.sigChanged.emit()))
            return box
        if field.kind is str:
            edit = QLineEdit()
            if field.optional:
                edit.setPlaceholderText(AUTO)
            edit.textChanged.connect(self.sigChanged)
            return edit
        if field.kind is int:
            box = QSpinBox()
            box.setRange(-1 if field.optional else 0, INT_MAX)
        else:
            box = QDoubleSpinBox()
            box.setDecimals(FLOAT_DECIMALS)
            box.setRange(-1.0 if field.optional else 0.0, FLOAT_MAX)
            box.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        if field.optional:
            box.setSpecialValueText(AUTO)  # shown at the lowest value, which means None
        box.setKeyboardTracking(False)     # one change per finished number, not per digit
        box.valueChanged.connect(self.sigChanged)
        return box

    def value(self, name: str):
        field, editor = self.fields[name], self.editors[name]
        if field.kind is bool:
            state = editor.checkState()
            return None if state == Qt.CheckState.PartiallyChecked else state == Qt.CheckState.Checked
        if field.kind is str:
            text = editor.text()
            return None if field.optional and not text else text
        value = editor.value()
        return None if field.optional and value == editor.minimum() else value

    def values(self) -> dict:
        """``{name: value}`` of every option, None for "auto"."""
        return {name: self.value(name) for name in self.fields}

    def set_value(self, name: str, value) -> None:
        field, editor = self.fields[name], self.editors[name]
        if field.kind is bool:
            editor.setCheckState(Qt.CheckState.PartiallyChecked if value is None
                                 else Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
        elif field.kind is str:
            editor.setText("" if value is None else str(value))
        else:
            editor.setValue(editor.minimum() if value is None else value)
