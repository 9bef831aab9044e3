"""A generated git history with a real shape, for the hosted-repository benchmark.

`git fast-import` reads one generated stream: a tree of a few hundred files in nested
directories (Python sources, docs, tests, one small binary), commits by a handful of
authors an hour apart, each touching a few files (lines replaced, inserted, deleted),
topic branches merged back with merge commits, a few renames, annotated tags, and one
2,000-line file (`src/yard/engine.py`) that a fifth of the commits change in a few lines,
so that its blame names many commits. Deterministic: the same recipe gives the same
commits, byte for byte (dates are generated, not taken from the clock).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

GENERATOR_VERSION = 1  # bump when the stream changes, so that caches are rebuilt
BIG_FILE = "src/yard/engine.py"
BIG_LINES = 2000
TREE_DIR = "src/yard"
BRANCH = "main"
AUTHORS = (
    ("Ada Lovelace", "ada@example.org"),
    ("Grace Hopper", "grace@example.org"),
    ("Linus Ek", "linus@example.org"),
    ("Margaret Hamilton", "margaret@example.org"),
    ("Ken Iverson", "ken@example.org"),
    ("Barbara Liskov", "barbara@example.org"),
)
WORDS = (
    "parse render queue index route token branch commit merge blob tree record fetch "
    "store cache limit scan split join match yield value count batch frame patch"
).split()
START = 1_420_070_400  # 2015-01-01 UTC; commits an hour apart
# ("M", path, content), ("R", old path, new path) or ("D", path, "")
Change = tuple[str, str, bytes | str]


@dataclass(frozen=True)
class Recipe:
    commits: int = 10_000
    files: int = 300
    seed: int = 13
    version: int = GENERATOR_VERSION

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _line(rng: random.Random, n: int) -> str:
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    return f"    {a}_{n} = {b}({rng.randrange(1000)}, {a!r})  # {b} {n}"


def _source(rng: random.Random, path: str, lines: int) -> list[str]:
    name = path.rsplit("/", 1)[-1]
    head = [f'"""{name}: generated for the benchmark."""', "", f"def {WORDS[len(name) % 25]}():"]
    return head + [_line(rng, i) for i in range(lines - len(head))]


def _layout(rng: random.Random, files: int) -> list[str]:
    """Paths in nested directories, the big file's directory among them."""
    dirs = [TREE_DIR, "src/yard/web", "src/yard/store", "docs", "docs/guide", "tests"]
    dirs += [f"src/pkg{i:02d}" for i in range(12)] + [f"src/pkg{i:02d}/sub" for i in range(6)]
    dirs += [f"tests/pkg{i:02d}" for i in range(6)]
    paths = {BIG_FILE}
    while len(paths) < files:
        d = rng.choice(dirs)
        ext = ".md" if d.startswith("docs") else ".py"
        prefix = "test_" if d.startswith("tests") else ""
        paths.add(f"{d}/{prefix}{rng.choice(WORDS)}_{len(paths)}{ext}")
    return sorted(paths)


class _Stream:
    """Writes the fast-import commands to git's standard input."""

    def __init__(self, out) -> None:
        self.out = out
        self.mark = 0

    def write(self, text: str) -> None:
        self.out.write(text.encode())

    def data(self, payload: bytes) -> None:
        self.out.write(b"data %d\n" % len(payload) + payload + b"\n")

    def commit(
        self,
        ref: str,
        when: int,
        author: tuple[str, str],
        message: str,
        changes: Sequence[Change],
        parents: list[int],
    ) -> int:
        self.mark += 1
        name, mail = author
        self.write(f"commit {ref}\nmark :{self.mark}\n")
        self.write(f"author {name} <{mail}> {when} +0000\n")
        self.write(f"committer {name} <{mail}> {when} +0000\n")
        self.data(message.encode())
        if parents:
            self.write(f"from :{parents[0]}\n")
        for p in parents[1:]:
            self.write(f"merge :{p}\n")
        for op, path, content in changes:
            if op == "M":
                self.write(f"M 100644 inline {path}\n")
                self.data(content if isinstance(content, bytes) else content.encode())
            elif op == "D":
                self.write(f"D {path}\n")
            else:  # rename: content is the new path
                assert isinstance(content, str)
                self.write(f'R "{path}" "{content}"\n')
        self.write("\n")
        return self.mark


def _edit(rng: random.Random, lines: list[str], n: int, keep_length: bool) -> None:
    """Replace a hunk of a few lines, and sometimes insert or delete one."""
    at = rng.randrange(3, len(lines))
    for i in range(at, min(len(lines), at + rng.randint(1, 6))):
        lines[i] = _line(rng, n)
    if keep_length:
        return
    if rng.random() < 0.3:
        lines.insert(rng.randrange(3, len(lines) + 1), _line(rng, n))
    elif rng.random() < 0.2 and len(lines) > 12:
        del lines[rng.randrange(3, len(lines))]


def write_stream(recipe: Recipe, out) -> dict:
    """Write the whole fast-import stream for `recipe`; what it made (counts)."""
    rng = random.Random(recipe.seed)
    s = _Stream(out)
    ref = f"refs/heads/{BRANCH}"
    files: dict[str, list[str]] = {}
    for path in _layout(rng, recipe.files):
        size = BIG_LINES if path == BIG_FILE else rng.randint(15, 160)
        files[path] = _source(rng, path, size)
    made = {"commits": 0, "merges": 0, "renames": 0, "tags": 0}
    clock = START

    def tick() -> int:
        nonlocal clock
        clock += 3600 + rng.randrange(600)
        return clock

    def text(path: str) -> str:
        return "\n".join(files[path]) + "\n"

    first: list[Change] = [("M", p, text(p)) for p in files]
    first.append(("M", "assets/logo.png", bytes(rng.randrange(256) for _ in range(3000))))
    head = s.commit(ref, tick(), AUTHORS[0], "Initial import\n", first, [])
    made["commits"] = 1
    paths = [p for p in files if p != BIG_FILE]
    while made["commits"] < recipe.commits:
        left = recipe.commits - made["commits"]
        if left > 8 and rng.random() < 0.02:
            # A topic branch of a few commits on files main leaves alone meanwhile, then
            # a merge commit taking its versions of them.
            topic_files = rng.sample(paths, 4)
            n = rng.randint(2, min(5, left - 2))
            tip, topic = head, f"refs/heads/topic-{made['merges']}"
            for _ in range(n):
                changed = rng.sample(topic_files, rng.randint(1, 2))
                for p in changed:
                    _edit(rng, files[p], made["commits"], keep_length=False)
                tip = s.commit(
                    topic,
                    tick(),
                    rng.choice(AUTHORS),
                    f"{rng.choice(WORDS)}: {rng.choice(WORDS)} the {rng.choice(WORDS)}\n",
                    [("M", p, text(p)) for p in changed],
                    [tip],
                )
                made["commits"] += 1
            merged: list[Change] = [("M", p, text(p)) for p in topic_files]
            head = s.commit(
                ref,
                tick(),
                AUTHORS[0],
                f"Merge branch 'topic-{made['merges']}'\n",
                merged,
                [head, tip],
            )
            if made["merges"] % 10:  # most topic branches are deleted after the merge
                s.write(f"reset {topic}\nfrom {'0' * 40}\n\n")
            made["commits"] += 1
            made["merges"] += 1
            continue
        n = made["commits"]
        changes: list[Change] = []
        if rng.random() < 0.002:
            old = rng.choice(paths)
            new = old.rsplit("/", 1)[0] + f"/renamed_{n}" + old[old.rfind(".") :]
            files[new] = files.pop(old)
            paths[paths.index(old)] = new
            changes.append(("R", old, new))
            made["renames"] += 1
        touched = rng.sample(paths, rng.randint(1, 3))
        if rng.random() < 0.2:
            touched.append(BIG_FILE)
        for p in touched:
            _edit(rng, files[p], n, keep_length=p == BIG_FILE)
            changes.append(("M", p, text(p)))
        body = f"\n{rng.choice(WORDS).capitalize()} {' '.join(rng.sample(WORDS, 8))}.\n"
        subject = f"{touched[0].split('/')[-2]}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
        head = s.commit(ref, tick(), rng.choice(AUTHORS), subject + "\n" + body, changes, [head])
        made["commits"] += 1
        if made["commits"] % 1000 == 0:
            name, mail = AUTHORS[0]
            tag = made["commits"] // 1000
            s.write(f"tag v0.{tag}\nfrom :{head}\ntagger {name} <{mail}> {clock} +0000\n")
            s.data(f"Release 0.{tag}\n".encode())
            made["tags"] += 1
    return made


def generate(recipe: Recipe, dest: Path) -> dict:
    """A bare repository at `dest` (made anew) holding the recipe's history, repacked
    as `git gc` would leave it; what it holds and how long it took."""
    shutil.rmtree(dest, ignore_errors=True)
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(dest.parent), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q", "--bare", "-b", BRANCH, str(dest)], check=True, env=env)
    t = time.perf_counter()
    proc = subprocess.Popen(
        ["git", "-C", str(dest), "fast-import", "--quiet", "--done"],
        stdin=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None
    made = write_stream(recipe, proc.stdin)
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed ({proc.returncode})")
    import_seconds = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["git", "-C", str(dest), "gc", "--quiet", "--aggressive"], check=True, env=env)
    return {
        **made,
        "fast_import_seconds": import_seconds,
        "gc_seconds": time.perf_counter() - t,
    }
