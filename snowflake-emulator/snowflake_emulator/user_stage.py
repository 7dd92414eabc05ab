"""The user stage (`@~`) as a local folder: PUT copies files into it, staged reads list them, REMOVE deletes them."""

from __future__ import annotations

import glob
import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from fakesnow.transforms.stage import upload_files
from snowflake.connector.errors import ProgrammingError


class UserStage:
    """Files of `@~`, under one folder; stage paths are `/`-separated and relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, source: str, stage_path: str, *, auto_compress: bool = True) -> list[dict[str, Any]]:
        """Copy local file(s) into the stage folder `stage_path`, as PUT does; one result row per file.

        `source` is a `file://` URI or a path, and may hold wildcards (as PUT allows). Files are gzipped on the way
        in unless `auto_compress` is off or they already are, like Snowflake's AUTO_COMPRESS.
        """
        pattern = url2pathname(urlparse(source).path) if source.startswith("file://") else source
        sources = sorted(glob.glob(pattern))
        if not sources:
            raise ProgrammingError(msg=f"File doesn't exist: ['{pattern}']", errno=253006)
        # fakesnow's own PUT upload (the same compression and result columns Snowflake reports)
        rows: list[dict[str, Any]] = upload_files(
            {
                "stageInfo": {"locationType": "LOCAL_FS", "location": str(self.folder(stage_path)), "creds": {}},
                "src_locations": sources,
                "parallel": 1,
                "autoCompress": auto_compress,
                "sourceCompression": "auto_detect",
                "overwrite": True,
                "command": "UPLOAD",
            }
        )
        return rows

    def files(self, stage_path: str) -> list[Path]:
        """Staged files whose path starts with `stage_path` (Snowflake matches stage paths as prefixes), by name."""
        prefix = self._relative(stage_path)
        # walk only the folder the prefix names: other batches' folders come and go meanwhile (os.walk skips those)
        start = self.root / prefix.rpartition("/")[0]
        found = [
            Path(folder, name)
            for folder, _, names in os.walk(start)
            for name in names
            if self.name(Path(folder, name)).startswith(prefix)
        ]
        return sorted(found)

    def remove(self, stage_path: str) -> list[str]:
        """Delete the staged files under `stage_path`, as REMOVE does; returns their stage names."""
        prefix = self._relative(stage_path)
        removed = []
        for path in self.files(stage_path):
            path.unlink()
            removed.append(self.name(path))
        # Folders the path named, now empty (one per batch would pile up otherwise); never a folder above it, which
        # another batch may be putting a file into.
        for folder, _, _ in os.walk(self.root / prefix.rpartition("/")[0], topdown=False):
            name = self.name(Path(folder))
            if f"{name}/".startswith(prefix) and name != "." and not any(Path(folder).iterdir()):
                Path(folder).rmdir()
        return removed

    def folder(self, stage_path: str) -> Path:
        return self.root / self._relative(stage_path)

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def _relative(stage_path: str) -> str:
        relative = stage_path.lstrip("/")
        if ".." in PurePosixPath(relative).parts or "\\" in relative:
            raise ProgrammingError(msg=f"Invalid stage path: '@~/{relative}'", errno=1003, sqlstate="42000")
        return relative
