"""The triage form refuses a `!label` past the limits with a 400 that says the limit,
and changes nothing (`tests/trackers/test_label_limits.py` has the rule and the mail
path); a `!label` within them is applied (the positive control)."""

from __future__ import annotations

from tests.web.test_trackers import sign_in
from trackers.tickets import MAX_LABELS_PER_TICKET, Origin, create_tracker, get_ticket, open_ticket

OWNER = "owner@example.com"


def test_the_triage_form_refuses_too_many_labels(client, session, settings):
    tracker = create_tracker(session, "bugs", OWNER, "Bugs")
    open_ticket(session, tracker, "One", "Text.\n", Origin(OWNER, authenticated="web"))
    session.commit()
    csrf = sign_in(client, settings, OWNER)
    names = " ".join(f"x{i}" for i in range(MAX_LABELS_PER_TICKET + 1))
    refused = client.post(
        "/bugs/tickets/1/triage", data={"csrf_token": csrf, "commands": f"!label {names}"}
    )
    assert refused.status_code == 400
    assert f"at most {MAX_LABELS_PER_TICKET} labels" in refused.get_data(as_text=True)
    session.expire_all()
    assert get_ticket(session, tracker.id, 1).labels == []

    done = client.post("/bugs/tickets/1/triage", data={"csrf_token": csrf, "commands": "!label ok"})
    assert done.status_code == 303
    session.expire_all()
    assert get_ticket(session, tracker.id, 1).labels == ["ok"]
