"""(filled in by the issue-12 work on this group of endpoints)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
