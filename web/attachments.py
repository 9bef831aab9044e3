"""Attachments of mail on the web: the one way a message page and a ticket page list them
and the one way their downloads are served.

A download is mail from anyone, so it is served as nothing a browser renders or runs:
`text/plain; charset=utf-8` for text (re-encoded, so no declared charset such as UTF-7
reaches the browser), `application/octet-stream` for everything else, always
`Content-Disposition: attachment` and `X-Content-Type-Options: nosniff` (no sniffing an
HTML or SVG attachment back into a page). Text attachments are shown in the page as
escaped text, never as HTML.
"""

from __future__ import annotations

from flask import Response, abort

from archive.attachments import Attachment, find_attachment, list_attachments

__all__ = ["Attachment", "attachment_response", "list_attachments"]


def attachment_response(raw: bytes, index: str, what: str) -> Response:
    """The attachment numbered `index` of `raw` as a download, or a 404 naming `what`
    (e.g. 'the message <id@x>') and the number."""
    found = find_attachment(raw, index)
    if found is None:
        abort(404, f"{what} has no attachment {index}.")
    response = Response(found.body, content_type=found.content_type)
    name = found.attachment.url_name.split("-", 1)[1]
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
