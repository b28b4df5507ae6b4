"""Application settings, read and written through one helper with typed values.

Settings live in an INI file in the user's config location (``~/.config/elbench/elbench.ini``
on Linux). Tests redirect it with ``QSettings.setPath(QSettings.IniFormat, UserScope, tmp)``
before creating an ``AppSettings`` (see ``tests/gui/conftest.py``). A value that cannot be
read as its type (hand-edited file, older version) gives the default, never an exception:
a broken setting must not stop the application from starting.

Example::

    settings = AppSettings()
    settings.sample_size = 5000
    settings.sample_size            # 5000 (int)
    settings.last_landscape_path    # None or a str
"""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "elbench"
APPLICATION = "elbench"

ENERGY_UNITS = ("kcal/mol", "kT")


class AppSettings:
    """Typed access to the persistent settings of the application."""

    def __init__(self) -> None:
        self._qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                             ORGANIZATION, APPLICATION)

    @property
    def file_name(self) -> str:
        return self._qs.fileName()

    # --- typed primitives ---------------------------------------------------------------
    def read_str(self, key: str, default: str | None = None) -> str | None:
        value = self._qs.value(key)
        return value if isinstance(value, str) else default

    def read_int(self, key: str, default: int, minimum: int | None = None,
                 maximum: int | None = None) -> int:
        try:
            value = int(self._qs.value(key, default))
        except (TypeError, ValueError):
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            return default
        return value

    def read_bool(self, key: str, default: bool) -> bool:
        value = self._qs.value(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return default

    def read_bytes(self, key: str) -> QByteArray | None:
        value = self._qs.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def write(self, key: str, value) -> None:
        if value is None:
            self._qs.remove(key)
        else:
            self._qs.setValue(key, value)

    def sync(self) -> None:
        self._qs.sync()

    # --- the application's settings -----------------------------------------------------
    @property
    def last_landscape_path(self) -> str | None:
        """File of the landscape open at the last exit (None when it was unsaved)."""
        return self.read_str("landscape/last_path") or None

    @last_landscape_path.setter
    def last_landscape_path(self, path: str | None) -> None:
        self.write("landscape/last_path", path)

    @property
    def last_landscape_json(self) -> str | None:
        """The unsaved landscape open at the last exit, as landscape JSON text."""
        return self.read_str("landscape/unsaved_json") or None

    @last_landscape_json.setter
    def last_landscape_json(self, text: str | None) -> None:
        self.write("landscape/unsaved_json", text)

    @property
    def window_geometry(self) -> QByteArray | None:
        return self.read_bytes("window/geometry")

    @window_geometry.setter
    def window_geometry(self, data: QByteArray) -> None:
        self.write("window/geometry", data)

    @property
    def window_state(self) -> QByteArray | None:
        return self.read_bytes("window/state")

    @window_state.setter
    def window_state(self, data: QByteArray) -> None:
        self.write("window/state", data)

    @property
    def energy_unit(self) -> str:
        """'kcal/mol' or 'kT'."""
        value = self.read_str("view/energy_unit", ENERGY_UNITS[0])
        return value if value in ENERGY_UNITS else ENERGY_UNITS[0]

    @energy_unit.setter
    def energy_unit(self, unit: str) -> None:
        self.write("view/energy_unit", unit)

    @property
    def sample_size(self) -> int:
        """Number of conformations drawn over the designer's map."""
        return self.read_int("view/sample_size", 5000, minimum=0, maximum=1_000_000)

    @sample_size.setter
    def sample_size(self, n: int) -> None:
        self.write("view/sample_size", int(n))
