"""Is a tool installed and recent enough: found on PATH, version read, a message saying how to install it."""
import os
import stat

import pytest

from engine.methods.tools import ToolMissingError, ToolRequirement, require_tool, version_at_least


def fake_tool(folder, name, output):
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{output}' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def env_with(folder):
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_found_and_recent_enough(tmp_path):
    path = fake_tool(tmp_path, "relion_refine", "RELION version: 3.1.3-commit-2b9bc4")
    found = require_tool(ToolRequirement("relion_refine", minimum_version="3.1"), env=env_with(tmp_path))
    assert found.path == path and found.version == "3.1.3"


def test_missing_tool_says_how_to_install(tmp_path):
    req = ToolRequirement("no_such_tool_elbench", install_hint="pip install no-such-tool")
    with pytest.raises(ToolMissingError, match="no_such_tool_elbench was not found on PATH. Install it: pip install"):
        require_tool(req, env={"PATH": str(tmp_path)})


def test_too_old_tool_names_both_versions(tmp_path):
    fake_tool(tmp_path, "cryodrgn", "cryodrgn 2.3.0")
    req = ToolRequirement("cryodrgn", minimum_version="3.4", install_hint="pip install -U cryodrgn")
    with pytest.raises(ToolMissingError, match=r"cryodrgn 2\.3\.0 .* is too old: elbench needs 3\.4 or newer\. "
                                               r"Install it: pip install -U cryodrgn"):
        require_tool(req, env=env_with(tmp_path))


def test_unreadable_version_quotes_what_the_tool_printed(tmp_path):
    fake_tool(tmp_path, "mystery", "usage: mystery [options]")
    with pytest.raises(ToolMissingError, match="could not read the version of mystery.*usage: mystery"):
        require_tool(ToolRequirement("mystery", minimum_version="1.0"), env=env_with(tmp_path))


def test_version_comparison_pads_and_ignores_suffixes():
    assert version_at_least("3.1", "3.1.0")
    assert version_at_least("1.0.5rc1", "1.0.5")
    assert version_at_least("10.0", "9.9.9")
    assert not version_at_least("3.0.8", "3.1")
