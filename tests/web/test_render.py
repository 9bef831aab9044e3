"""Message text to HTML: escaped, quotes marked, only http(s) links clickable."""

from __future__ import annotations

from web.render import linkify, render_body, to_filename


def test_markup_in_a_body_is_escaped():
    html = str(render_body('<script>alert("x")</script>\n<img src=x onerror=alert(1)>\n'))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_quoted_lines_are_grouped_in_one_span():
    html = str(render_body("Hi\n> one\n>> two\nme\n> three\n"))
    assert html.count('<span class="q">') == 2
    assert '<span class="q">&gt; one\n&gt;&gt; two\n</span>' in html


def test_only_http_and_https_urls_become_links():
    html = str(
        linkify(
            "see https://example.org/a?b=1&c=2. or javascript:alert(1) "
            "or data:text/html,x or ftp://x.org"
        )
    )
    assert '<a href="https://example.org/a?b=1&amp;c=2"' in html
    assert html.count("<a ") == 1
    assert "javascript:alert(1)" in html  # as text


def test_url_cannot_break_out_of_the_attribute():
    html = str(linkify('http://x.org/"onmouseover="alert(1)'))
    assert 'href="http://x.org/"' in html
    assert "onmouseover=" not in html.split(">", 1)[0]


def test_trailing_punctuation_and_unbalanced_paren_stay_outside_the_link():
    assert ">https://x.org/a_(b)</a>)" in str(linkify("(https://x.org/a_(b))"))
    assert ">http://x.org</a>." in str(linkify("http://x.org."))


def test_links_inside_quotes_still_work():
    html = str(render_body("> see http://x.org/y\n"))
    assert '<span class="q">&gt; see <a href="http://x.org/y"' in html


def test_filenames_are_header_safe():
    assert to_filename("Re: [PATCH v2 1/3] foo: bar baz") == "PATCH-v2-1-3-foo-bar-baz"
    assert to_filename('"; evil\r\nX-Header: 1') == "evil-X-Header-1"
    assert to_filename("") == "no-subject"
