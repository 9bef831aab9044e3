"""The domains the archive hands work to, named rather than imported, so that the
archive never depends on them (DESIGN: web -> domains -> archive -> mailyard).

- `after_ingest(session, [(message, list_id), ...])`: newly archived list messages
  (DESIGN, the path of one message, step 3);
- `reset(session)`: forget what was derived, before `reindex` rebuilds it;
- `patch_id_messages(patch_ids) -> select of message pks`: what the `patchid:` search
  prefix finds, for `b4`;
- `name_taken(session, name) -> bool`: another domain has NAME@DOMAIN (a tracker), so a
  list cannot take it;
- `patchset_applied(session, patchset, actor)`: a patchset's status became `applied`
  (the tickets its patches close are resolved).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

DOMAIN_HOOKS = {
    # In this order: patch links read the patchsets the tracker has just filed.
    "after_ingest": ("patchsets.track:track_messages", "trackers.patch_links:reference_tickets"),
    "reset": ("patchsets.track:reset_patchsets",),
    "patch_id_messages": ("patchsets.queries:messages_with_patch_id",),
    "name_taken": ("trackers.tickets:tracker_named",),
    "patchset_applied": ("trackers.patch_links:resolve_fixed_tickets",),
}


@cache
def domain_hooks(event: str) -> tuple[Callable, ...]:
    hooks = []
    for name in DOMAIN_HOOKS[event]:
        module, _, function = name.partition(":")
        hooks.append(getattr(importlib.import_module(module), function))
    return tuple(hooks)
