"""Incremental JWZ threading: arrival order must not matter, loops must not happen, and the
generated corpus must thread exactly as its ground truth says."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from archive.threading import (
    MemoryNode,
    MemoryStore,
    reference_chain,
    root_of,
    subject_key,
    thread_message,
    thread_messages,
)
from tests.corpus import truth

# A -> B -> C, each with full References and In-Reply-To.
CHAIN = [
    ("<a@x>", [], [], "chain"),
    ("<b@x>", ["<a@x>"], ["<a@x>"], "Re: chain"),
    ("<c@x>", ["<a@x>", "<b@x>"], ["<b@x>"], "Re: chain"),
]

# A has replies B and C; D replies to B; E replies to D.
TREE = [
    ("<a@t>", [], [], "tree"),
    ("<b@t>", ["<a@t>"], ["<a@t>"], "Re: tree"),
    ("<c@t>", ["<a@t>"], ["<a@t>"], "Re: tree"),
    ("<d@t>", ["<a@t>", "<b@t>"], ["<b@t>"], "Re: tree"),
    ("<e@t>", ["<a@t>", "<b@t>", "<d@t>"], ["<d@t>"], "Re: tree"),
]


def parent_map(store: MemoryStore) -> dict[str, str | None]:
    return {m: (n.parent.msgid if n.parent else None) for m, n in store.nodes.items()}


def assert_acyclic(store: MemoryStore) -> None:
    for node in store.nodes.values():
        seen = {id(node)}
        up = node.parent
        while up is not None:
            assert id(up) not in seen, f"cycle through {node.msgid}"
            seen.add(id(up))
            up = up.parent


def test_reference_chain_appends_every_in_reply_to_missing_from_references() -> None:
    chain = reference_chain("<m>", ["<a>", "<b>", "<a>"], ["<c>", "<b>", "<d>"])
    assert chain == ["<a>", "<b>", "<c>", "<d>"]


def test_reference_chain_drops_self_references() -> None:
    assert reference_chain("<m>", ["<a>", "<m>"], ["<m>"]) == ["<a>"]


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Foo  bar",
        "RE: re: Foo bar",
        "Aw: AW:Foo bar",
        "Re[2]: Foo bar",
        "Sv: Antw: Fwd: foo BAR",
        "Fw: Re : foo\tbar",
        "foo bar",
    ],
)
def test_subject_key_strips_prefix_chains_and_case(subject: str) -> None:
    assert subject_key(subject) == "foo bar"


def test_subject_key_keeps_words_that_only_start_like_a_prefix() -> None:
    assert subject_key("Reply: Awkward") == "reply: awkward"


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_arrival_order_of_a_chain_gives_one_tree_rooted_at_the_first(order) -> None:
    store = thread_messages(CHAIN[i] for i in order)
    assert parent_map(store) == {"<a@x>": None, "<b@x>": "<a@x>", "<c@x>": "<b@x>"}
    assert not any(n.placeholder for n in store.nodes.values())


def test_random_arrival_orders_of_a_tree_match_in_order_arrival() -> None:
    expected = parent_map(thread_messages(TREE))
    assert expected == {
        "<a@t>": None,
        "<b@t>": "<a@t>",
        "<c@t>": "<a@t>",
        "<d@t>": "<b@t>",
        "<e@t>": "<d@t>",
    }
    rng = random.Random(20240601)
    for _ in range(50):
        shuffled = TREE[:]
        rng.shuffle(shuffled)
        assert parent_map(thread_messages(shuffled)) == expected, [m[0] for m in shuffled]


def test_reply_to_unseen_message_makes_a_placeholder_root_that_later_becomes_real() -> None:
    store = MemoryStore()
    reply = store.add_message("<r@x>", ["<p@x>"], ["<p@x>"], "Re: hello")
    placeholder = store.get("<p@x>")
    assert placeholder is not None and placeholder.placeholder
    assert root_of(store, reply) is placeholder

    parent = store.add_message("<p@x>", [], [], "hello")
    assert parent is placeholder and not parent.placeholder
    assert reply.parent is parent and parent.children == [reply]
    assert store.roots() == [parent]


def test_placeholder_is_reparented_when_its_message_arrives_with_its_own_headers() -> None:
    # X's mailer trimmed References to [A, C]: C is guessed to hang under A until C itself
    # arrives and says its parent is B.
    store = MemoryStore()
    store.add_message("<a@x>", [], [], "t")
    store.add_message("<x@x>", ["<a@x>", "<c@x>"], ["<c@x>"], "Re: t")
    assert store.nodes["<c@x>"].parent is store.nodes["<a@x>"]
    store.add_message("<c@x>", ["<a@x>", "<b@x>"], ["<b@x>"], "Re: t")
    store.add_message("<b@x>", ["<a@x>"], ["<a@x>"], "Re: t")
    assert parent_map(store) == {
        "<a@x>": None,
        "<x@x>": "<c@x>",
        "<c@x>": "<b@x>",
        "<b@x>": "<a@x>",
    }


def test_reply_referencing_only_the_grandparent_hangs_under_its_in_reply_to() -> None:
    # C's References stop at A, but In-Reply-To names B, which arrives last.
    messages = [
        ("<c@x>", ["<a@x>"], ["<b@x>"], "Re: t"),
        ("<a@x>", [], [], "t"),
        ("<b@x>", ["<a@x>"], ["<a@x>"], "Re: t"),
    ]
    store = thread_messages(messages)
    assert parent_map(store) == {"<a@x>": None, "<b@x>": "<a@x>", "<c@x>": "<b@x>"}


def test_references_without_in_reply_to_thread_under_the_last_reference() -> None:
    store = thread_messages([CHAIN[0], CHAIN[1], ("<c@x>", ["<a@x>", "<b@x>"], [], "Re: chain")])
    assert store.nodes["<c@x>"].parent is store.nodes["<b@x>"]


def test_in_reply_to_without_references_threads_under_it() -> None:
    store = thread_messages([CHAIN[0], CHAIN[1], ("<c@x>", [], ["<b@x>"], "Re: chain")])
    assert store.nodes["<c@x>"].parent is store.nodes["<b@x>"]


def test_in_reply_to_absent_from_references_is_the_parent() -> None:
    store = thread_messages([CHAIN[0], CHAIN[1], ("<c@x>", ["<a@x>"], ["<b@x>"], "Re: chain")])
    assert store.nodes["<c@x>"].parent is store.nodes["<b@x>"]
    assert store.nodes["<b@x>"].parent is store.nodes["<a@x>"]


def test_several_in_reply_to_ids_chain_and_the_last_is_the_parent() -> None:
    store = thread_messages([("<m@x>", [], ["<p@x>", "<q@x>"], "Re: t")])
    assert parent_map(store) == {"<m@x>": "<q@x>", "<p@x>": None, "<q@x>": "<p@x>"}


def test_subject_fallback_attaches_a_header_less_reply_to_the_latest_thread() -> None:
    store = thread_messages(
        [
            ("<old@x>", [], [], "Status"),
            ("<new@x>", [], [], "status"),
            ("<reply@x>", [], [], "RE: Aw:  STATUS"),
        ]
    )
    assert store.nodes["<reply@x>"].parent is store.nodes["<new@x>"]


def test_subject_fallback_needs_a_reply_prefix() -> None:
    store = thread_messages([("<a@x>", [], [], "Status"), ("<b@x>", [], [], "Status")])
    store.add_message("<c@x>", [], [], "Fwd: Status")
    assert all(n.parent is None for n in store.nodes.values())


def test_reply_with_references_to_an_unknown_id_is_not_subject_threaded() -> None:
    store = thread_messages(
        [("<a@x>", [], [], "Status"), ("<b@x>", ["<gone@x>"], [], "Re: Status")]
    )
    assert store.nodes["<b@x>"].parent is store.nodes["<gone@x>"]
    assert store.nodes["<gone@x>"].placeholder
    assert store.nodes["<a@x>"].children == []


def test_subject_fallback_never_attaches_a_message_under_its_own_descendant() -> None:
    # The reply to <a> arrives first and is the latest "t" thread, rooted at placeholder <a>.
    store = MemoryStore()
    store.add_message("<r@x>", ["<a@x>"], ["<a@x>"], "Re: t")
    a = store.add_message("<a@x>", [], [], "Re: t")
    assert a.parent is None and store.nodes["<r@x>"].parent is a
    assert_acyclic(store)


def test_mutual_references_do_not_hang_or_cycle() -> None:
    for order in itertools.permutations(
        [("<a@x>", ["<b@x>"], ["<b@x>"], "Re: t"), ("<b@x>", ["<a@x>"], ["<a@x>"], "Re: t")]
    ):
        store = thread_messages(order)
        assert_acyclic(store)
        assert len(store.roots()) == 1


def test_self_and_circular_references_in_one_message_are_ignored() -> None:
    store = thread_messages(
        [
            ("<a@x>", ["<a@x>"], ["<a@x>"], "Re: t"),
            ("<b@x>", ["<c@x>", "<b@x>", "<c@x>"], ["<b@x>"], "Re: t"),
            ("<c@x>", ["<b@x>"], ["<b@x>"], "Re: t"),
            ("<d@x>", ["<b@x>", "<c@x>"], [], "Re: t"),
            ("<e@x>", ["<c@x>", "<b@x>"], [], "Re: t"),
        ]
    )
    assert_acyclic(store)
    assert store.nodes["<a@x>"].parent is None
    assert store.nodes["<b@x>"].parent is store.nodes["<c@x>"]


def test_walking_a_store_that_already_holds_a_cycle_terminates() -> None:
    store = MemoryStore()
    a, b, c = (store.get_or_create(m) for m in ("<a>", "<b>", "<c>"))
    a.parent, b.parent, c.parent = b, c, a  # corrupt on purpose, bypassing the checks
    assert root_of(store, a) in (a, b, c)
    thread_message(store, "<d>", ["<a>"], [], "Re: x")
    assert store.nodes["<d>"].parent is a


def test_own_headers_win_over_a_parent_guessed_from_other_references() -> None:
    store = MemoryStore()
    store.add_message("<x@x>", ["<a@x>", "<c@x>"], [], "Re: t")
    assert store.nodes["<c@x>"].parent is store.nodes["<a@x>"]
    store.add_message("<c@x>", [], [], "t")  # C says it starts a thread
    assert store.nodes["<c@x>"].parent is None
    assert parent_map(store) == parent_map(
        thread_messages(
            [
                ("<c@x>", [], [], "t"),
                ("<x@x>", ["<a@x>", "<c@x>"], [], "Re: t"),
            ]
        )
    )


def thread_corpus(messages: list[dict]) -> MemoryStore:
    return thread_messages(
        (
            m["message_id"],
            m["references"],
            [m["in_reply_to"]] if m["in_reply_to"] else [],
            m["subject"],
        )
        for m in messages
    )


def top_real_ancestor(node: MemoryNode) -> MemoryNode:
    """The truth's thread_root stops at the corpus edge: the highest real node reachable
    without crossing a placeholder (a message outside the corpus)."""
    while node.parent is not None and not node.parent.placeholder:
        node = node.parent
    return node


def corpus_agreement(size: str) -> tuple[int, int, float, MemoryStore]:
    messages = [m for m in truth(size)["messages"] if m["kind"] != "duplicate"]
    start = time.perf_counter()
    store = thread_corpus(messages)
    seconds = time.perf_counter() - start
    agree = sum(
        top_real_ancestor(store.nodes[m["message_id"]]).msgid == m["thread_root"] for m in messages
    )
    return agree, len(messages), seconds, store


@pytest.mark.parametrize("size", ["small", "medium"])
def test_corpus_threads_to_the_truth_thread_root(size: str) -> None:
    agree, total, seconds, store = corpus_agreement(size)
    print(f"{size}: {agree}/{total} roots agree; {total / seconds:,.0f} messages/s")
    assert agree == total
    # Every id referenced in the corpus is in the corpus, so nothing stays a placeholder
    # and the tree roots themselves are the truth roots.
    assert not any(n.placeholder for n in store.nodes.values())
    assert_acyclic(store)


@pytest.mark.parametrize("size", ["small", "medium"])
def test_corpus_threads_the_same_in_reverse_arrival_order(size: str) -> None:
    messages = [m for m in truth(size)["messages"] if m["kind"] != "duplicate"]
    forward = parent_map(thread_corpus(messages))
    assert parent_map(thread_corpus(messages[::-1])) == forward


def test_in_reply_to_missing_from_references_still_threads_under_the_references_chain():
    """public-inbox's t/mid.t: References <hello> <world>, In-Reply-To <weld>."""
    store = thread_messages(
        [("m@x", ["hello", "world"], ["weld"], "Re: x"), ("hello", [], [], "x")]
    )
    chain = []
    node = store.get("m@x")
    while node is not None:
        chain.append(node.msgid)
        node = node.parent
    assert chain == ["m@x", "weld", "world", "hello"]
