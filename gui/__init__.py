"""elbench GUI: Qt widgets that wire the engine to the user; no science is computed here."""
