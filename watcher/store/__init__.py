"""Persistence: the one owner of SQL. Models, queries by domain, and the engine owner.

The rest of the service holds a :data:`Session` only to pass it back into these modules;
it never builds a statement itself (ruff's banned-api rule keeps SQLAlchemy in here).
"""

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.session import Database

# A transaction handed out by :class:`Database`, to pass to the query functions.
Session = AsyncSession
# Any failure of the database or its driver, for callers that report it in one line.
DatabaseError = SQLAlchemyError

__all__ = ["Database", "DatabaseError", "Session"]
