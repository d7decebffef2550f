"""Packaging: the PyInstaller spec, the desktop file and the AppStream metainfo agree, and the
frozen app builds and opens its window.

The consistency tests read the files only (the spec with ``ast``, never run): they are fast
and always on. The build takes about a minute and needs PyInstaller, so it runs only when asked:
``COCKPIT_PACKAGING=1 .venv/bin/pytest -m packaging`` (or ``bash packaging/build.sh``).
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import cockpit
from cockpit import __version__
from cockpit.reference_data import RESOURCES_ENV, resources_dir

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "cockpit.spec"
DESKTOP = PACKAGING / "cockpit.desktop"
BUILD_SCRIPT = PACKAGING / "build.sh"
METAINFO_ID = "io.github.cockpit.Cockpit"
METAINFO = PACKAGING / f"{METAINFO_ID}.metainfo.xml"
PACKAGING_ENV = "COCKPIT_PACKAGING"

# pyproject's license text -> the SPDX expression AppStream wants in <project_license>.
SPDX_FOR_PYPROJECT_LICENSE = {"Proprietary": "LicenseRef-proprietary"}


def spec_constants() -> dict[str, Any]:
    """The spec's top-level ``NAME = literal`` assignments, read without running the spec."""
    constants: dict[str, Any] = {}
    for node in ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue  # not a literal (a computed path): not one of the shared names
    return constants


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def metainfo() -> ET.Element:
    return ET.parse(METAINFO).getroot()


def text_of(root: ET.Element, path: str) -> str:
    element = root.find(path)
    assert element is not None, f"{METAINFO.name} has no <{path}>"
    assert element.text is not None and element.text.strip(), f"<{path}> is empty"
    return element.text.strip()


def pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_spec_declares_the_names_the_other_files_use() -> None:
    constants = spec_constants()
    for name in ("APP_NAME", "APP_ID", "ICON_NAME", "RESOURCES_DEST", "RESOURCES_SKIP"):
        assert name in constants, f"{SPEC.name} lost its literal {name} = ..."


def test_metainfo_is_well_formed_with_the_required_elements() -> None:
    root = metainfo()  # ET.parse raises on malformed XML
    assert root.tag == "component"
    assert root.get("type") == "desktop-application"
    assert text_of(root, "id") == METAINFO_ID
    for path in ("metadata_license", "project_license", "name", "summary"):
        text_of(root, path)
    description = root.find("description")
    assert description is not None and description.findall("p"), "<description> needs a <p>"
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    rating = root.find("content_rating")
    assert rating is not None and rating.get("type", "").startswith("oars-")
    releases = root.findall("releases/release")
    assert releases, "<releases> needs at least one <release>"
    for release in releases:
        assert release.get("version"), "every <release> needs a version"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", release.get("date", "")), "release date"
    assert root.findall("screenshots/screenshot/image"), "<screenshots> needs an <image>"


def test_metainfo_release_and_license_follow_the_project() -> None:
    root = metainfo()
    newest = root.findall("releases/release")[0]
    assert newest.get("version") == __version__, (
        f"the newest <release> is {newest.get('version')}, cockpit.__version__ is "
        f"{__version__}: add a <release> for it (newest first)"
    )
    license_field = pyproject()["project"]["license"]
    license_text = license_field["text"] if isinstance(license_field, dict) else license_field
    expected = SPDX_FOR_PYPROJECT_LICENSE.get(license_text, license_text)
    assert text_of(root, "project_license") == expected


def test_desktop_file_spec_and_metainfo_name_the_same_app() -> None:
    constants = spec_constants()
    entry = desktop_entry()
    root = metainfo()
    app_name = constants["APP_NAME"]

    assert entry["Exec"].split()[0] == app_name
    assert entry.get("StartupWMClass") == app_name
    assert app_name in pyproject()["project"]["scripts"]
    assert text_of(root, "provides/binary") == app_name

    assert constants["APP_ID"] == text_of(root, "id")
    launchable = text_of(root, "launchable")
    assert launchable == DESKTOP.name, f"<launchable> {launchable}, desktop file {DESKTOP.name}"

    icon = entry["Icon"]
    assert icon == constants["ICON_NAME"]
    assert text_of(root, "icon") == icon
    assert (ROOT / "resources" / "icons" / f"{icon}.svg").is_file()
    assert "icons" not in constants["RESOURCES_SKIP"]

    desktop_categories = {c for c in entry["Categories"].split(";") if c}
    metainfo_categories = {c.text for c in root.findall("categories/category")}
    assert metainfo_categories <= desktop_categories

    # The running window names its desktop file (Wayland app id, task-bar grouping).
    runtime = (ROOT / "cockpit" / "ui" / "runtime.py").read_text(encoding="utf-8")
    names = re.findall(r'setDesktopFileName\("([^"]+)"\)', runtime)
    assert names == [DESKTOP.stem], f"setDesktopFileName{names} vs {DESKTOP.name}"


def test_metainfo_screenshots_are_the_repositorys_images() -> None:
    for image in metainfo().findall("screenshots/screenshot/image"):
        url = (image.text or "").strip()
        assert url.startswith("https://"), url
        match = re.search(r"/(resources/screenshots/[^/]+\.png)$", url)
        assert match, f"{url} does not point at resources/screenshots/"
        png = ROOT / match.group(1)
        assert png.is_file(), f"{url}: {png} is not in the repository"
        header = png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
        width, height = struct.unpack(">II", header[16:24])
        assert (image.get("width"), image.get("height")) == (str(width), str(height)), png


def test_spec_bundles_resources_where_resources_dir_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    # A frozen module's __file__ is <bundle>/cockpit/<module>.pyc, so resources_dir(), which
    # is <package>/../resources, finds <bundle>/RESOURCES_DEST as it finds <repo>/resources.
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    package_parent = Path(cockpit.__file__).resolve().parent.parent
    constants = spec_constants()
    assert resources_dir() == package_parent / constants["RESOURCES_DEST"]
    needed = {"nse", "exchange", "icons"}
    assert not needed & set(constants["RESOURCES_SKIP"]), "the app reads these at run time"
    assert needed <= {p.name for p in resources_dir().iterdir() if p.is_dir()}


def test_build_script_is_an_executable_bash_script() -> None:
    assert os.access(BUILD_SCRIPT, os.X_OK), f"chmod +x {BUILD_SCRIPT.relative_to(ROOT)}"
    text = BUILD_SCRIPT.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "packaging/cockpit.spec" in text
    assert "set -euo pipefail" in text


@pytest.mark.packaging
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get(PACKAGING_ENV) != "1",
    reason=(
        f"builds the app with PyInstaller (about a minute): run with {PACKAGING_ENV}=1 "
        f".venv/bin/pytest -m packaging, or bash packaging/build.sh"
    ),
)
def test_frozen_app_builds_and_opens_its_window() -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, output
    assert re.search(r"^smoke: main window shown \d+\.\d+ s after start$", result.stdout, re.M), (
        output
    )
    assert re.search(r"^build\.sh: OK: ", result.stdout, re.M), output
