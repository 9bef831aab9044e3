"""Compare what Mailyard made of a generated archive with the corpus ground truth,
message by message: kind, the patchset a patch or cover letter ended in, the version it
re-rolls, and the trailers collected for each patch.

Shared by the corpus tests and `bench/patchsets_bench.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Message
from patchsets.models import ClassifiedMessage, Patchset, PatchsetPatch
from patchsets.queries import collect_trailers

# The truth tells replies in patch threads from replies in plain discussions; a message
# on its own does not, and Mailyard calls both replies.
_KIND = {"discussion_reply": "reply"}


@dataclass
class TruthReport:
    checked: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return 1 - len(self.misses) / self.checked if self.checked else 0.0


def check_against_truth(session: Session, truth: dict) -> TruthReport:
    report = TruthReport()
    by_msgid = {
        f"<{mid}>": (pk, kind)
        for mid, pk, kind in session.execute(
            select(Message.message_id, Message.id, ClassifiedMessage.kind).join(
                ClassifiedMessage, ClassifiedMessage.message_pk == Message.id
            )
        )
    }
    patchsets = {p.id: p for p in session.scalars(select(Patchset))}
    member_of: dict[str, int] = {}
    for patchset_id, msgid in session.execute(
        select(PatchsetPatch.patchset_id, PatchsetPatch.message_id)
    ):
        member_of[f"<{msgid}>"] = patchset_id
    pk_to_msgid = {pk: mid for mid, (pk, _) in by_msgid.items()}
    for p in patchsets.values():
        if p.cover_message_pk in pk_to_msgid:
            member_of[pk_to_msgid[p.cover_message_pk]] = p.id
    series_of_patchset = _series_problems(truth, patchsets, member_of, pk_to_msgid)
    trailers = _trailer_problems(session, truth, patchsets, member_of, by_msgid)
    for m in truth["messages"]:
        if m["kind"] == "duplicate":
            continue
        report.checked += 1
        mid = m["message_id"]
        got = by_msgid.get(mid)
        want = _KIND.get(m["kind"], m["kind"])
        if got is None or got[1].value != want:
            report.misses.append(f"{mid}: kind {got[1].value if got else None} != {want}")
            continue
        if m["kind"] in ("patch", "cover"):
            problem = series_of_patchset.get(m["series_id"])
            if problem:
                report.misses.append(f"{mid}: {problem}")
                continue
        if m["kind"] == "patch" and mid in trailers:
            report.misses.append(f"{mid}: {trailers[mid]}")
    return report


def _series_problems(truth, patchsets, member_of, pk_to_msgid) -> dict[str, str]:
    """series_id -> what is wrong with the patchset it became (missing: all right)."""
    problems: dict[str, str] = {}
    first_msgid_to_series = {}
    for s in truth["series"]:
        for mid in [s["cover_message_id"], *s["patch_message_ids"]]:
            if mid:
                first_msgid_to_series[mid] = s["series_id"]
    by_id = {s["series_id"]: s for s in truth["series"]}
    for s in truth["series"]:
        mids = [m for m in [s["cover_message_id"], *s["patch_message_ids"]] if m]
        found = {member_of.get(m) for m in mids}
        if len(found) != 1 or None in found:
            problems[s["series_id"]] = f"series {s['series_id']} split over {found}"
            continue
        patchset = patchsets[found.pop()]
        patch_ids = {f"<{p.message_id}>" for p in patchset.patches if not p.replaced}
        if patch_ids != set(s["patch_message_ids"]):
            problems[s["series_id"]] = (
                f"patchset {patchset.id} has {len(patch_ids)} patches, "
                f"series {s['series_id']} {len(s['patch_message_ids'])}"
            )
            continue
        cover = pk_to_msgid.get(patchset.cover_message_pk)
        if cover != s["cover_message_id"]:
            problems[s["series_id"]] = f"cover {cover} != {s['cover_message_id']}"
            continue
        if patchset.version != s["version"]:
            problems[s["series_id"]] = f"version {patchset.version} != {s['version']}"
            continue
        want_previous = s.get("resend_of") or s.get("previous_version")
        got_previous = None
        if patchset.previous_id is not None:
            previous = patchsets[patchset.previous_id]
            first = f"<{previous.first_message_id}>"
            got_previous = first_msgid_to_series.get(first, first)
        if got_previous != want_previous and not (
            want_previous and got_previous in _same_group(by_id, want_previous)
        ):
            problems[s["series_id"]] = (
                f"series {s['series_id']} re-rolls {want_previous}, found {got_previous}"
            )
    return problems


def _same_group(by_id, series_id) -> set[str]:
    """A RESEND's previous version may be named by either sending of it."""
    target = by_id[series_id]
    return {
        sid
        for sid, s in by_id.items()
        if s["group_id"] == target["group_id"] and s["version"] == target["version"]
    }


def _trailer_problems(session, truth, patchsets, member_of, by_msgid) -> dict[str, str]:
    """patch Message-ID -> how its collected trailers differ from the expected ones."""
    problems: dict[str, str] = {}
    wanted = {
        m["message_id"]: [t["trailer"] for t in m["expected_trailers"]]
        for m in truth["messages"]
        if m["kind"] == "patch"
    }
    done: set[int] = set()
    for mid, patchset_id in member_of.items():
        if mid not in wanted or patchset_id in done:
            continue
        done.add(patchset_id)
        collected = collect_trailers(session, patchsets[patchset_id])
        pk_to_mid = {pk: m for m, (pk, _) in by_msgid.items()}
        for pk, trailers in collected.items():
            patch_mid = pk_to_mid.get(pk)
            if patch_mid not in wanted:
                continue
            got = [t.line for t in trailers.body] + [
                g.trailer.line for g in trailers.given if not g.mismatch
            ]
            if sorted(got) != sorted(wanted[patch_mid]):
                missing = [t for t in wanted[patch_mid] if t not in got]
                extra = [t for t in got if t not in wanted[patch_mid]]
                problems[patch_mid] = f"trailers missing {missing}, extra {extra}"
    return problems
