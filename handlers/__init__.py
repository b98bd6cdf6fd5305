"""The dialogs, channel-neutral. Importing this package registers every step; `route` is the global router."""

from handlers import (  # noqa: F401  (registers steps and officer buttons)
    bank,
    nearby,
    officer,
    registration,
    report,
    report_target,
    reward_officer,
    stats,
    status,
)
from handlers.menu import route

__all__ = ["route"]
