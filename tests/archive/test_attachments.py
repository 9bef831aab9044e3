"""archive.attachments: the parts of a mail that are not its text, numbered as
public-inbox's each_part numbers them, on real mail and on hand-made MIME trees."""

from __future__ import annotations

from archive.attachments import find_attachment, list_attachments, safe_filename
from tests.corpus import patchwork_files


def corpus_mail(name: str) -> bytes:
    (path,) = [p for p in patchwork_files("mail") if p.name == name]
    return path.read_bytes()


def mixed(*parts: str, boundary: str = "b1") -> str:
    inner = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n{inner}--{boundary}--\n'


def message(body_and_type: str) -> bytes:
    return (
        "From: Ada <ada@example.com>\nTo: dev@lists.example.org\nSubject: logs\n"
        f"Message-ID: <logs@x>\nMIME-Version: 1.0\n{body_and_type}"
    ).encode()


TEXT = "Content-Type: text/plain; charset=utf-8\n\nsee the log\n"
ALTERNATIVE = (
    'Content-Type: multipart/alternative; boundary="b2"\n\n'
    "--b2\nContent-Type: text/plain\n\nplain\n--b2\nContent-Type: text/html\n\n<p>html</p>\n"
    "--b2--\n"
)
LOG = (
    "Content-Type: text/plain; charset=utf-8\n"
    'Content-Disposition: attachment; filename="build log.txt"\n'
    "\n<script>alert(1)</script> step 1 failed\n"
)
PNG = (
    "Content-Type: image/png\nContent-Transfer-Encoding: base64\n"
    'Content-Disposition: attachment; filename="shot.png"\n\niVBORw0KGgo=\n'
)


def test_a_patch_attached_to_real_mail_is_part_2_with_its_name():
    raw = corpus_mail("0007-cvs-format-diff.mbox")
    (patch,) = list_attachments(raw)
    assert (patch.index, patch.filename, patch.content_type) == ("2", "dd-2.patch", "text/plain")
    assert patch.url_name == "2-dd-2.patch"
    assert patch.text is None  # a patch is in the body text already, not shown twice
    download = find_attachment(raw, "2")
    assert download is not None and download.body.startswith(b"Index: bfd/elf-bfd.h")
    assert download.content_type == "text/plain; charset=utf-8"
    assert find_attachment(raw, "1") is None  # the body text is no attachment


def test_the_html_alternative_of_real_mail_is_listed_never_shown_as_text():
    raw = corpus_mail("0019-multipart-patch.mbox")
    (html,) = list_attachments(raw)
    assert (html.index, html.content_type, html.text) == ("2", "text/html", None)
    download = find_attachment(raw, "2")
    assert download is not None and download.content_type == "text/plain; charset=utf-8"


def test_nested_parts_are_numbered_as_public_inbox_numbers_them():
    raw = message(mixed(ALTERNATIVE, LOG, PNG))
    found = {a.index: a for a in list_attachments(raw)}
    assert sorted(found) == ["1.2", "2", "3"]  # 1.1 is the text
    assert found["2"].filename == "build log.txt" and found["2"].url_name == "2-build-log.txt"
    assert found["2"].text == "<script>alert(1)</script> step 1 failed\n"
    assert found["3"].content_type == "image/png" and found["3"].text is None
    png = find_attachment(raw, "3")
    assert png is not None and png.body.startswith(b"\x89PNG")
    assert png.content_type == "application/octet-stream"


def test_a_blank_part_is_not_counted():
    raw = message(mixed(TEXT, "", LOG))
    assert [a.index for a in list_attachments(raw)] == ["2"]


def test_a_whole_mail_that_is_not_text_is_part_1():
    raw = message("Content-Type: application/octet-stream\n\nbinary\n")
    (whole,) = list_attachments(raw)
    assert (whole.index, whole.url_name) == ("1", "1-a.bin")


def test_a_declared_utf7_charset_is_served_as_utf8():
    raw = message(
        mixed(
            TEXT,
            "Content-Type: text/plain; charset=utf-7\n"
            'Content-Disposition: attachment; filename="x.txt"\n'
            "\n+ADw-script+AD4-\n",
        )
    )
    download = find_attachment(raw, "2")
    assert download is not None and download.body == b"<script>\n"
    assert download.content_type == "text/plain; charset=utf-8"


def test_bad_input_gives_nothing_rather_than_an_error():
    assert list_attachments(b"\x00\xff garbage") == []
    assert find_attachment(b"", "1") is None
    assert find_attachment(message(mixed(TEXT, LOG)), "2-x") is None
    assert find_attachment(message(mixed(TEXT, LOG)), "0") is None


def test_file_names_are_safe_in_a_url_and_a_header():
    assert safe_filename("../../etc/passwd", True) == "etc-passwd"
    assert safe_filename('a"; b\r\n.html', False) == "a-b-.html"
    assert safe_filename("", True) == "a.txt" and safe_filename(None, False) == "a.bin"
