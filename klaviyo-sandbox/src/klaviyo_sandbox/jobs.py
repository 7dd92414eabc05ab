"""Klaviyo's bulk jobs as an account keeps them: what was asked, its status, and what it did (writes.py runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .generator import iso
from .validation import ProfileInput, ProfileRowError


@dataclass
class ProfileJob:
    """One POST /api/profile-bulk-import-jobs: queued, then processing, then complete (after --job-seconds)."""

    id: str
    created_at: float
    profiles: list[ProfileInput | None]
    row_errors: list[ProfileRowError]
    list_ids: list[str]
    status: str = "queued"
    started_at: float | None = None
    completed_at: float | None = None
    completed_count: int = 0
    profile_ids: list[str] = field(default_factory=list)

    def attributes(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "created_at": iso(self.created_at),
            "total_count": len(self.profiles),
            "completed_count": self.completed_count,
            "failed_count": len(self.row_errors) if self.completed_at else 0,
            "completed_at": iso(self.completed_at) if self.completed_at else None,
            "expires_at": iso(self.created_at + 7 * 86400),
            "started_at": iso(self.started_at) if self.started_at else None,
        }

    def resource(self, base: str) -> dict[str, Any]:
        link = f"{base}/api/profile-bulk-import-jobs/{self.id}/"
        return {
            "type": "profile-bulk-import-job",
            "id": self.id,
            "attributes": self.attributes(),
            "relationships": {
                "lists": {"data": [{"type": "list", "id": lid} for lid in self.list_ids]},
                "import-errors": {"links": {"related": f"{link}import-errors/"}},
            },
            "links": {"self": link},
        }


@dataclass
class DeletionJob:
    """One POST /api/data-privacy-deletion-jobs: the identifier of the people to delete, done after --job-seconds
    (privacy.py runs it). Klaviyo answers 202 and shows no job resource, so nothing reads this but the sandbox."""

    kind: str  # "id", "email" or "phone_number"
    value: str
    requested_at: float
    done: bool = False
    deleted: list[str] = field(default_factory=list)  # ids of the profiles it deleted
