"""Find and load device profiles: built-in ones, ``./devices``, and ``$EDGEKD_DEVICES``.

Later folders override earlier ones by name, so a user can shadow a built-in profile.
YAML is read with ``yaml.safe_load`` only: a profile is data and can never construct
Python objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import ProfileError, known_names
from edgekd.profiles.builtin import builtin_folder
from edgekd.profiles.schema import DeviceProfile
from edgekd.validation import parse_yaml_mapping, read_text_file, validate


@dataclass(frozen=True)
class ProfileEntry:
    profile: DeviceProfile
    path: Path
    origin: str  # "built-in", "project" or "user"


def search_folders() -> list[tuple[str, Path]]:
    folders = [("built-in", builtin_folder())]
    project = Path.cwd() / "devices"
    if project.is_dir() and project.resolve() != folders[0][1].resolve():
        folders.append(("project", project))
    user = os.environ.get("EDGEKD_DEVICES")
    if user:
        folders.append(("user", Path(user)))
    return folders


def load_profile_file(path: Path) -> DeviceProfile:
    """Load and validate one profile file; errors name the file, the field and the expectation."""
    text = read_text_file(path, ProfileError, "profile")
    return validate(
        DeviceProfile, parse_yaml_mapping(text, str(path), ProfileError, "a profile"), str(path), ProfileError
    )


def profile_files() -> dict[str, tuple[str, Path]]:
    """Every profile file by name (its file stem), later folders overriding earlier ones."""
    files: dict[str, tuple[str, Path]] = {}
    for origin, folder in search_folders():
        if not folder.is_dir():
            if origin == "user":
                raise ProfileError(f"EDGEKD_DEVICES={folder} is not a folder; point it at a folder of *.yaml profiles")
            continue
        for path in sorted(folder.glob("*.yaml")):
            files[path.stem] = (origin, path)
    return files


def load_entry(origin: str, path: Path) -> ProfileEntry:
    profile = load_profile_file(path)
    if profile.name != path.stem:
        raise ProfileError(
            f"{path}: field 'name' is {profile.name!r} but the file is named {path.stem!r}; make them equal"
        )
    return ProfileEntry(profile, path, origin)


def discover_all() -> tuple[dict[str, ProfileEntry], dict[str, ProfileError]]:
    """All profiles by name, and the files that failed to load with their errors."""
    entries: dict[str, ProfileEntry] = {}
    problems: dict[str, ProfileError] = {}
    for name, (origin, path) in profile_files().items():
        try:
            entries[name] = load_entry(origin, path)
        except ProfileError as exc:
            problems[name] = exc
    return entries, problems


def discover() -> dict[str, ProfileEntry]:
    """All profiles by name; a malformed file raises ``ProfileError`` naming it."""
    entries, problems = discover_all()
    if problems:
        raise next(iter(problems.values()))
    return entries


def get_profile(name: str) -> ProfileEntry:
    """One profile; only its own file is read, so a broken profile elsewhere does not stop this one."""
    files = profile_files()
    if name not in files:
        raise ProfileError(f"unknown device {name!r}; known: {known_names(files)} (see `edgekd devices list`)")
    return load_entry(*files[name])
