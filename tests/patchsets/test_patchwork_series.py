"""Patchwork's own series tests, restated for Mailyard: every fact that
`../shared/corpus/patchwork/expectations.json` records about the `series/` mails and the
single mails fed through `parse_mail` holds here, with the mails ingested through the
real archive (store, parse, thread, classify, group).

Patchwork's [covers, patches, comments] are Mailyard's cover letters, patches and
replies; its Series are patchsets, ordered by date.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from archive.importer import import_messages
from archive.mbox import iter_mbox, open_mbox
from archive.models import Message
from lists.manage import create_list
from patchsets.classify import MailKind
from patchsets.models import ClassifiedMessage, Patchset
from patchsets.queries import dependencies, dependents
from tests import corpus

# file -> ([covers, patches, comments], patches per series, covers per series or None)
SERIES_COUNTS = {
    "base-cover-letter.mbox": ([1, 2, 0], [2], [1]),
    "base-deep-threaded.mbox": ([1, 2, 0], [2], [1]),
    "base-different-versions.mbox": ([1, 4, 0], [4], [1]),
    "base-extra-patches.mbox": ([1, 3, 0], [3], [1]),
    "base-incomplete.mbox": ([1, 1, 0], [1], [1]),
    "base-no-cover-letter.mbox": ([0, 2, 0], [2], None),
    "base-no-references-no-cover.mbox": ([1, 2, 0], [2], [1]),
    "base-no-references.mbox": ([0, 2, 0], [2], None),
    "base-out-of-order.mbox": ([1, 2, 0], [2], [1]),
    "base-single-patch.mbox": ([0, 1, 0], [1], None),
    "bugs-mixed-versions.mbox": ([0, 2, 0], [1, 1], None),
    "bugs-multiple-content-types.mbox": ([0, 1, 1], None, None),
    "bugs-multiple-references.mbox": ([1, 4, 0], [4], [1]),
    "bugs-nocover-noversion.mbox": ([0, 4, 0], [2, 2], None),
    "bugs-nocover.mbox": ([0, 4, 0], [2, 2], None),
    "bugs-spamming.mbox": ([0, 3, 0], [1, 1, 1], None),
    "bugs-unnumbered.mbox": ([1, 2, 0], [1, 1], [1, 0]),
    "mercurial-cover-letter.mbox": ([1, 2, 0], [2], [1]),
    "mercurial-no-cover-letter.mbox": ([0, 2, 0], [2], None),
    "revision-basic.mbox": ([2, 4, 0], [2, 2], [1, 1]),
    "revision-no-cover-letter.mbox": ([1, 4, 0], [2, 2], [1, 0]),
    "revision-out-of-order.mbox": ([2, 4, 0], [2, 2], [1, 1]),
    "revision-threaded-to-cover.mbox": ([2, 4, 0], [2, 2], [1, 1]),
    "revision-threaded-to-patch.mbox": ([2, 4, 0], [2, 2], [1, 1]),
    "revision-threaded-to-single-patch.mbox": ([0, 2, 0], [1, 1], None),
    "revision-unlabeled-noreferences.mbox": ([0, 4, 0], [2, 2], None),
    "revision-unlabeled.mbox": ([2, 4, 0], [2, 2], [1, 1]),
}

# received_all, as SeriesTotalTest asserts it for the first patch's series.
RECEIVED_ALL = {
    "base-cover-letter.mbox": True,
    "base-extra-patches.mbox": True,
    "base-incomplete.mbox": False,
}

# Single mails that Patchwork's parse_mail (or parsemail) must turn into exactly one patch.
ONE_PATCH_MAILS = [
    "0001-git-pull-request.mbox",
    "0012-invalid-header-char.mbox",
    "0013-with-utf8-body.mbox",
    "0014-with-unencoded-utf8-headers.mbox",
    "0015-with-invalid-utf8-headers.mbox",
]


def mails_of(path) -> list[bytes]:
    with open_mbox(path) as f:
        return list(iter_mbox(f, "mboxo"))


def series_file(name: str):
    return corpus.require_corpus() / "patchwork" / "series" / name


def counts(session) -> list[int]:
    kinds = dict(
        session.execute(
            select(ClassifiedMessage.kind, func.count()).group_by(ClassifiedMessage.kind)
        ).all()
    )
    return [
        kinds.get(MailKind.cover, 0),
        kinds.get(MailKind.patch, 0),
        kinds.get(MailKind.reply, 0),
    ]


def patchsets_by_date(session) -> list[Patchset]:
    return list(session.scalars(select(Patchset).order_by(Patchset.date, Patchset.id)))


@pytest.fixture
def mlist(session):
    created = create_list(session, "pw", "owner@example.org")
    session.commit()
    return created


@pytest.mark.parametrize("name", sorted(SERIES_COUNTS))
def test_series_mbox_groups_as_patchwork_asserts(session, mlist, name):
    import_messages(session, mlist, mails_of(series_file(name)))
    session.commit()
    want_counts, want_patches, want_covers = SERIES_COUNTS[name]
    assert counts(session) == want_counts
    patchsets = patchsets_by_date(session)
    if want_patches is not None:
        assert [p.patch_count for p in patchsets] == want_patches
    if want_covers is not None:
        assert [int(p.cover_message_pk is not None) for p in patchsets] == want_covers
    if name in RECEIVED_ALL:
        assert patchsets[0].received_all is RECEIVED_ALL[name]


@pytest.mark.parametrize("name", ONE_PATCH_MAILS)
def test_single_mail_is_one_patch(session, mlist, name):
    path = corpus.require_corpus() / "patchwork" / "mail" / name
    import_messages(session, mlist, mails_of(path))
    session.commit()
    kinds = list(session.scalars(select(ClassifiedMessage.kind)))
    if name.startswith("0001"):  # a pull request: Patchwork stores it as a patch too
        assert kinds == [MailKind.pull]
    else:
        assert kinds == [MailKind.patch]


@pytest.mark.parametrize(
    "name,url",
    [
        (
            "0023-git-pull-request-newline-in-url.mbox",
            "https://git.kernel.org/pub/scm/linux/kernel/git/matthias.bgg/linux.git/"
            " tags/v5.4-next-soc",
        ),
        (
            "0024-git-pull-request-trailing-space.mbox",
            "git://git.kernel.org/pub/scm/linux/kernel/git/nsekhar/linux-davinci.git"
            " tags/davinci-for-v5.6/soc",
        ),
    ],
)
def test_pull_request_is_a_patchset_to_pull(session, mlist, name, url):
    path = corpus.require_corpus() / "patchwork" / "mail" / name
    import_messages(session, mlist, mails_of(path))
    session.commit()
    (patchset,) = patchsets_by_date(session)
    assert f"{patchset.pull_url} {patchset.pull_ref}" == url
    assert patchset.patch_count == 0 and patchset.received_all and patchset.cover_message_pk


def test_same_mail_twice_is_one_patch(session, mlist):
    path = corpus.require_corpus() / "patchwork" / "mail" / "0013-with-utf8-body.mbox"
    import_messages(session, mlist, mails_of(path))
    import_messages(session, mlist, mails_of(path))
    session.commit()
    assert counts(session) == [0, 1, 0]


def test_multiple_content_types_give_one_content_type_in_the_mbox(session, mlist):
    from patchsets.queries import series_mbox

    import_messages(session, mlist, mails_of(series_file("bugs-multiple-content-types.mbox")))
    session.commit()
    (patchset,) = patchsets_by_date(session)
    (entry,) = series_mbox(session, patchset, "pw", "http://example.org")
    assert entry.count(b"Content-Type:") == 1


def test_fuzz_mails_ingest_without_exception(session, mlist):
    for path in corpus.patchwork_files("fuzz"):
        import_messages(session, mlist, mails_of(path))
    session.commit()
    assert session.scalar(select(func.count()).select_from(ClassifiedMessage)) > 0


def names_one_by_one(session, mlist, name) -> list[list[str]]:
    """Feed the mails one at a time, as SeriesNameTestCase does: the patchset names after
    each."""
    names = []
    for raw in mails_of(series_file(name)):
        import_messages(session, mlist, [raw])
        session.commit()
        names.append([p.name for p in patchsets_by_date(session)])
    return names


def test_series_name_comes_from_the_cover_letter(session, mlist):
    names = names_one_by_one(session, mlist, "base-cover-letter.mbox")
    assert names == [["A sample series"]] * 3


def test_series_name_without_cover_is_the_first_patch(session, mlist):
    names = names_one_by_one(session, mlist, "base-no-cover-letter.mbox")
    assert names == [["test: Add some lorem ipsum"]] * 2


def test_series_name_out_of_order(session, mlist):
    names = names_one_by_one(session, mlist, "base-out-of-order.mbox")
    # Only [PATCH 2/2] so far: Patchwork leaves the name unset (None); Mailyard ''.
    assert names == [[""], ["test: Add some lorem ipsum"], ["A sample series"]]


def test_custom_name_is_kept_as_the_series_fills(session, mlist):
    from patchsets.status import rename_patchset

    mails = mails_of(series_file("base-out-of-order.mbox"))
    import_messages(session, mlist, mails[:1])
    session.commit()
    (patchset,) = patchsets_by_date(session)
    assert patchset.name == ""
    rename_patchset(session, mlist, patchset, "My fun series", actor="owner@example.org")
    session.commit()
    for raw in mails[1:]:
        import_messages(session, mlist, [raw])
        session.commit()
        assert [p.name for p in patchsets_by_date(session)] == ["My fun series"]


# --- dependencies ----------------------------------------------------------------------

BASE = "dependency-base-patch.mbox"


def import_template(session, mlist, name, **tokens):
    text = series_file(name).read_text()
    raw = text.format(**tokens).encode()
    with open_mbox(io.BytesIO(raw)) as f:
        mails = list(iter_mbox(f, "mboxo"))
    import_messages(session, mlist, mails)
    session.commit()
    return newest(session)


def newest(session) -> Patchset:
    return session.scalars(select(Patchset).order_by(Patchset.id.desc())).first()


def base_series(session, mlist):
    import_messages(session, mlist, mails_of(series_file(BASE)))
    session.commit()
    series1 = newest(session)
    patch1 = min(series1.patches, key=lambda p: p.position)
    patch2 = max(series1.patches, key=lambda p: p.position)
    return series1, patch1.message_id, patch2.message_id


@pytest.mark.parametrize(
    "template,token",
    [
        ("dependency-one-cover.mbox.template", "patch1"),
        ("dependency-one-cover.mbox.template", "patch2"),
        ("dependency-one-cover.mbox.template", "series-url"),
        ("dependency-one-cover.mbox.template", "patch-url"),
        ("dependency-one-first-patch.mbox.template", "patch1"),
        ("dependency-one-first-patch.mbox.template", "cover"),
    ],
)
def test_dependency_is_recorded_both_ways(session, mlist, template, token):
    series1, patch1, patch2 = base_series(session, mlist)
    cover = session.get(Message, series1.cover_message_pk)
    value = {
        "patch1": f"<{patch1}>",
        "patch2": f"<{patch2}>",
        "cover": f"<{cover.message_id}>",
        "series-url": f"http://test/pw/patches/{series1.id}/",
        "patch-url": f"http://test/pw/{patch1}/",
    }[token]
    series2 = import_template(session, mlist, template, depends_token=value)
    assert series1 in dependencies(session, series2)
    assert series2 in dependents(session, series1)


def test_dependency_on_own_cover_is_not_circular(session, mlist):
    base_series(session, mlist)
    own = "<20240611160854.192806-1-ahassick@iol.unh.edu>"
    series = import_template(
        session, mlist, "dependency-one-first-patch.mbox.template", depends_token=own
    )
    assert series not in dependencies(session, series)


def test_dependency_never_crosses_lists(session, mlist):
    _, patch1, _ = base_series(session, mlist)
    other = create_list(session, "other", "owner@example.org")
    session.commit()
    series2 = import_template(
        session, other, "dependency-one-first-patch.mbox.template", depends_token=f"<{patch1}>"
    )
    assert dependencies(session, series2) == []


@pytest.mark.parametrize(
    "template", ["dependency-multi.mbox.template", "dependency-multi-2.mbox.template"]
)
def test_multiple_dependencies_in_order(session, mlist, template):
    series1, patch1, _ = base_series(session, mlist)
    series2 = import_template(
        session, mlist, "dependency-one-cover.mbox.template", depends_token=f"<{patch1}>"
    )
    s2_patch1 = min(series2.patches, key=lambda p: p.position).message_id
    series3 = import_template(
        session, mlist, template, depends_token_1=f"<{patch1}>", depends_token_2=f"<{s2_patch1}>"
    )
    assert dependencies(session, series1) == []
    assert len(dependents(session, series1)) == 2
    assert dependencies(session, series2) == [series1]
    assert dependents(session, series2) == [series3]
    assert dependencies(session, series3) == [series1, series2]
    assert dependents(session, series3) == []
