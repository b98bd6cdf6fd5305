"""The dialogs, channel-neutral. Importing this package registers every step; `route` is the global router."""

from handlers import nearby, officer, registration, report, report_target, stats, status  # noqa: F401  (registers steps)
from handlers.menu import route

__all__ = ["route"]
