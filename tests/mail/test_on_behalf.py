from email import message_from_string
from email.policy import default

from core.settings import Settings
from mail.on_behalf import may_send_as, on_behalf_of

SETTINGS = Settings(domain="lists.example.org", sender_domains=" example.org, Corp.Example. ")


def test_own_address_only_for_a_domain_the_instance_may_send_for():
    assert may_send_as(SETTINGS, "ann@lists.example.org")
    assert may_send_as(SETTINGS, "ann@example.org") and may_send_as(SETTINGS, "a@dev.example.org")
    assert may_send_as(SETTINGS, "bo@CORP.example")
    assert not may_send_as(SETTINGS, "eve@notexample.org")
    assert not may_send_as(Settings(domain="lists.example.org"), "ann@example.org")
    own = on_behalf_of(SETTINGS, "Ann", "ann@example.org")
    assert own.own_address and own.as_headers() == {"From": "Ann <ann@example.org>"}


def test_someone_else_is_sent_for_via_mailyard_with_reply_to_them():
    sent = on_behalf_of(SETTINGS, "Zoë Writer", "zoe@outside.net")
    assert not sent.own_address
    headers = "".join(f"{k}: {v}\n" for k, v in sent.as_headers().items())
    parsed = message_from_string(headers + "\n", policy=default)
    assert str(parsed["From"]) == "Zoë Writer via Mailyard <noreply@lists.example.org>"
    assert str(parsed["Reply-To"]) == "Zoë Writer <zoe@outside.net>"
    assert headers.isascii()
    nameless = on_behalf_of(SETTINGS, "", "kim@outside.net")
    assert nameless.from_header == "kim via Mailyard <noreply@lists.example.org>"
    assert nameless.reply_to == "kim@outside.net"
