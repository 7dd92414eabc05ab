"""A Meltano system folder of its own (MELTANO_SYS_DIR_ROOT) for each project a test runs, beside the checkout's
plugin virtualenvs (symlinked, installed once by `make setup`).

Meltano keeps a run's files in `.meltano/run/<plugin>/` under fixed names (tap.properties.json, state.json, the
tap's batch files: meltano.yml roots them in $MELTANO_SYS_DIR_ROOT) and its record of runs in `.meltano/meltano.db`.
Two runs sharing that folder can swap a catalog or a state file under each other, and a starting tap-klaviyo
removes the batch folders of taps that have ended, files its loader has not read yet among them. A pod has its own
filesystem; pods run by LocalArgo and tests running side by side (pytest-xdist) each get their own folder here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout (an editable install)
# The folders `meltano install` puts plugin virtualenvs in, under .meltano/.
PLUGIN_KINDS = ("extractors", "loaders", "mappers", "utilities", "transformers", "orchestrators")


def own_meltano_dir(path: Path) -> Path:
    """`path`, made (once) an empty Meltano system folder whose plugins are the checkout's."""
    if not path.is_dir():
        path.mkdir(parents=True)
        for kind in PLUGIN_KINDS:
            if (ROOT / ".meltano" / kind).is_dir():
                (path / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return path
