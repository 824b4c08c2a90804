"""Values every supplier page needs in its navigation."""
from __future__ import annotations

from outlook_sync.models import MappingState, OutlookEventMapping


def navigation(request) -> dict:
    """``open_conflicts``: how many of the signed-in supplier's events need a decision (the badge on "Conflicts").

    The events the conflict inbox lists. A view that has counted them already (the settings page, in its
    sync statistics) leaves the number on ``request.open_conflicts``, so the page does not count twice.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(("/admin/", "/api/")):
        return {}
    count = getattr(request, "open_conflicts", None)
    if count is None:
        count = OutlookEventMapping.objects.filter(integration__user=user, kind="event", sync_state=MappingState.CONFLICT).count()
    return {"open_conflicts": count}
