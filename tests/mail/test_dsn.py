"""Reading bounces: standard DSNs, plain-text failure notices, and what is not a bounce."""

from __future__ import annotations

import base64
import logging
import random
import time

import pytest

from mail.dsn import DIAGNOSTIC_MAX, Bounce, BounceKind, FailedRecipient, read_bounce

POSTFIX_FAILED = b"""\
Return-Path: <>
Received: by mail.example.net (Postfix)
\tid 3F1A2C0123; Tue,  2 Jan 2024 10:00:05 +0000 (UTC)
Date: Tue,  2 Jan 2024 10:00:05 +0000 (UTC)
From: MAILER-DAEMON@mail.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: dev+bounces=nosuch=example.net@lists.example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="3F1A2C0123.1704189605/mail.example.net"
Content-Transfer-Encoding: 8bit
Message-Id: <20240102100005.3F1A2C0123@mail.example.net>

This is a MIME-encapsulated message.

--3F1A2C0123.1704189605/mail.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<nosuch@example.net>: host mx.example.net[192.0.2.10] said: 550 5.1.1
    <nosuch@example.net>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--3F1A2C0123.1704189605/mail.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.net
X-Postfix-Queue-ID: 3F1A2C0123
X-Postfix-Sender: rfc822; dev+bounces=nosuch=example.net@lists.example.org
Arrival-Date: Tue,  2 Jan 2024 10:00:04 +0000 (UTC)

Final-Recipient: rfc822; nosuch@example.net
Original-Recipient: rfc822;nosuch@example.net
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 550 5.1.1 <nosuch@example.net>: Recipient address
    rejected: User unknown in virtual mailbox table

--3F1A2C0123.1704189605/mail.example.net
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <dev+bounces=nosuch=example.net@lists.example.org>
Received: from lists.example.org (lists.example.org [198.51.100.1])
\tby mail.example.net (Postfix) with ESMTPS id 3F1A2C0123
\tfor <nosuch@example.net>; Tue,  2 Jan 2024 10:00:04 +0000 (UTC)
From: Alice Example <alice@example.org>
To: dev@lists.example.org
Subject: [dev] Release plan
Message-ID: <plan-1@example.org>
List-Id: <dev.lists.example.org>

The release is on Friday.

--3F1A2C0123.1704189605/mail.example.net--
"""

POSTFIX_DELAYED = b"""\
Return-Path: <>
Date: Tue,  2 Jan 2024 14:00:05 +0000 (UTC)
From: MAILER-DAEMON@mail.example.net (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: dev+bounces=slow=example.com@lists.example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="9C2B3D0456.1704204005/mail.example.net"
Message-Id: <20240102140005.9C2B3D0456@mail.example.net>

This is a MIME-encapsulated message.

--9C2B3D0456.1704204005/mail.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.net.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

                   The mail system

<slow@example.com>: connect to mx.example.com[192.0.2.20]:25: Connection timed
    out

--9C2B3D0456.1704204005/mail.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.net
X-Postfix-Queue-ID: 9C2B3D0456
X-Postfix-Sender: rfc822; dev+bounces=slow=example.com@lists.example.org
Arrival-Date: Tue,  2 Jan 2024 10:00:04 +0000 (UTC)

Final-Recipient: rfc822; slow@example.com
Original-Recipient: rfc822;slow@example.com
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.example.com[192.0.2.20]:25: Connection
    timed out
Will-Retry-Until: Sun,  7 Jan 2024 10:00:04 +0000 (UTC)

--9C2B3D0456.1704204005/mail.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <dev+bounces=slow=example.com@lists.example.org>
From: Alice Example <alice@example.org>
To: dev@lists.example.org
Subject: [dev] Release plan
Message-ID: <plan-1@example.org>

--9C2B3D0456.1704204005/mail.example.net--
"""

EXIM_FAILED = b"""\
Return-path: <>
Envelope-to: dev+bounces=bob=example.com@lists.example.org
Delivery-date: Tue, 02 Jan 2024 10:00:06 +0000
Received: from Debian-exim by mx.example.com with local (Exim 4.94.2)
\tid 1rKmQf-0003Ab-2J
\tfor dev+bounces=bob=example.com@lists.example.org; Tue, 02 Jan 2024 10:00:06 +0000
X-Failed-Recipients: bob@example.com
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: dev+bounces=bob=example.com@lists.example.org
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1rKmQf-0003Ab-2J@mx.example.com>
Date: Tue, 02 Jan 2024 10:00:06 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  bob@example.com
    host mail.example.com [198.51.100.7]
    SMTP error from remote mail server after RCPT TO:<bob@example.com>:
    550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <dev+bounces=bob=example.com@lists.example.org>
From: Alice Example <alice@example.org>
To: dev@lists.example.org
Subject: [dev] Release plan

Who is in?

  carol@example.com
    550 5.1.1 this line is only quoted from the original message
"""

EXIM_DELAYED = b"""\
Return-path: <>
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: dev+bounces=bob=example.com@lists.example.org
Subject: Warning: message 1rKmQf-0003Ab-2J delayed 24 hours
Message-Id: <E1rKzzz-0004Bc-3K@mx.example.com>
Date: Wed, 03 Jan 2024 10:00:06 +0000

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.com.

The message identifier is:     1rKmQf-0003Ab-2J
The subject of the message is: [dev] Release plan

The address to which the message has not yet been delivered is:

  bob@example.com
    host mail.example.com [198.51.100.7]
    Delay reason: SMTP error from remote mail server after RCPT TO:<bob@example.com>:
    451 4.3.0 Temporary lookup failure

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
"""

QMAIL_FAILED = b"""\
Return-Path: <>
Received: (qmail 12345 invoked for bounce); 2 Jan 2024 10:00:07 -0000
Date: 2 Jan 2024 10:00:07 -0000
From: MAILER-DAEMON@mail.example.com
To: dev+bounces=carol=example.com@lists.example.org
Subject: failure notice

Hi. This is the qmail-send program at mail.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<carol@example.com>:
198.51.100.8 does not like recipient.
Remote host said: 550 5.1.1 <carol@example.com>... User unknown
Giving up on 198.51.100.8.

--- Below this line is a copy of the message.

Return-Path: <dev+bounces=carol=example.com@lists.example.org>
From: Alice Example <alice@example.org>
To: dev@lists.example.org
Subject: [dev] Release plan

<mallory@example.com>:
this line is only quoted from the original message, 550 and all
"""

GMAIL_FAILED = b"""\
Delivered-To: dev+bounces=dave=gmail.com@lists.example.org
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: dev+bounces=dave=gmail.com@lists.example.org
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
References: <plan-1@example.org>
In-Reply-To: <plan-1@example.org>
X-Failed-Recipients: dave@gmail.com
Message-ID: <65940a18.050a0220.b2c3d.1234.GMR@mx.google.com>
Date: Tue, 02 Jan 2024 02:00:08 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3"; report-type=delivery-status

--000000000000a1b2c3
Content-Type: multipart/related; boundary="000000000000a1b2c4"

--000000000000a1b2c4
Content-Type: multipart/alternative; boundary="000000000000a1b2c5"

--000000000000a1b2c5
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to dave@gmail.com because the address couldn't be found, \
or is unable to receive mail.

Learn more here: https://support.google.com/mail/?p=NoSuchUser

The response was:

The email account that you tried to reach does not exist. Please try double-checking the \
recipient's email address for typos or unnecessary spaces.

--000000000000a1b2c5
Content-Type: text/html; charset="UTF-8"

<html><body><h2>Address not found</h2><p>Your message wasn't delivered to <b>dave@gmail.com\
</b> because the address couldn't be found.</p></body></html>

--000000000000a1b2c5--
--000000000000a1b2c4
Content-Type: image/png; name="icon.png"
Content-Disposition: attachment; filename="icon.png"
Content-Transfer-Encoding: base64
Content-ID: <icon.png>

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==
--000000000000a1b2c4--

--000000000000a1b2c3
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; lists.example.org
Arrival-Date: Tue, 02 Jan 2024 02:00:08 -0800 (PST)
X-Original-Message-ID: <plan-1@example.org>

Final-Recipient: rfc822; dave@gmail.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.27.26, the server for the domain
 gmail.com.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
 Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1
 unnecessary spaces. Learn more at 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser
 d2-20020a05600c4b0200b0040e3c3b5f0asi1234567wmp.42 - gsmtp
Last-Attempt-Date: Tue, 02 Jan 2024 02:00:09 -0800 (PST)

--000000000000a1b2c3
Content-Type: message/rfc822

From: Alice Example <alice@example.org>
To: dev@lists.example.org
Subject: [dev] Release plan
Message-ID: <plan-1@example.org>

The release is on Friday.

--000000000000a1b2c3--
"""

EXCHANGE_NDR = b"""\
Received: from DM6PR11MB1234.namprd11.prod.outlook.com ([fe80::1]) by
 DM6PR11MB1234.namprd11.prod.outlook.com ([fe80::1%4]) with mapi id 15.20.7135.023;
 Tue, 2 Jan 2024 10:00:09 +0000
MIME-Version: 1.0
From: <postmaster@contoso.com>
To: <dev+bounces=erin=contoso.com@lists.example.org>
Date: Tue, 2 Jan 2024 10:00:09 +0000
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="b0a1ce2e-1e0c-4b5f-9a5a-5f0a2c5d7e01"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID: <a1b2c3d4-0000-4000-8000-123456789abc@DM6PR11MB1234.namprd11.prod.outlook.com>
In-Reply-To: <plan-1@example.org>
Subject: Undeliverable: [dev] Release plan

--b0a1ce2e-1e0c-4b5f-9a5a-5f0a2c5d7e01
Content-Type: multipart/alternative; differences=Content-Type;
\tboundary="c1d2e3f4-2f1d-4c6a-8b6b-6a1b3d6e8f12"

--c1d2e3f4-2f1d-4c6a-8b6b-6a1b3d6e8f12
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Delivery has failed to these recipients or groups:

erin@contoso.com<mailto:erin@contoso.com>
The email address you entered couldn't be found. Please check the recipient=
's email address and try to resend the message. If the problem continues, p=
lease contact your helpdesk.

Diagnostic information for administrators:

Generating server: DM6PR11MB1234.namprd11.prod.outlook.com

erin@contoso.com
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipien=
t not found by SMTP address lookup'

--c1d2e3f4-2f1d-4c6a-8b6b-6a1b3d6e8f12
Content-Type: text/html; charset="us-ascii"

<html><body><p>Delivery has failed to these recipients or groups:</p></body></html>

--c1d2e3f4-2f1d-4c6a-8b6b-6a1b3d6e8f12--

--b0a1ce2e-1e0c-4b5f-9a5a-5f0a2c5d7e01
Content-Type: message/delivery-status

Reporting-MTA: dns;DM6PR11MB1234.namprd11.prod.outlook.com
Received-From-MTA: dns;lists.example.org
Arrival-Date: Tue, 2 Jan 2024 10:00:08 +0000

Final-Recipient: rfc822;Erin@Contoso.com
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP \
address lookup
X-Display-Name: Erin

--b0a1ce2e-1e0c-4b5f-9a5a-5f0a2c5d7e01
Content-Type: text/rfc822-headers

From: Alice Example <alice@example.org>
To: dev@lists.example.org
Subject: [dev] Release plan
Message-ID: <plan-1@example.org>

--b0a1ce2e-1e0c-4b5f-9a5a-5f0a2c5d7e01--
"""

VACATION = b"""\
Return-Path: <>
From: Frank Example <frank@example.com>
To: dev+bounces=frank=example.com@lists.example.org
Subject: Out of Office: [dev] Release plan
Date: Tue, 02 Jan 2024 10:00:10 +0000
Message-ID: <ooo-1@example.com>
Auto-Submitted: auto-replied
X-Autoreply: yes
Precedence: bulk
Content-Type: text/plain; charset=utf-8

I am out of the office until 8 January, with no access to email.
For urgent matters, write to postmaster@example.com: 550 people are covering for me.
"""

TWO_RECIPIENTS = b"""\
From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: dev+bounces=gina=example.net@lists.example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="XYZ"

--XYZ
Content-Type: text/plain

Two recipients, two fates.

--XYZ
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; gina@example.net
Action: delayed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

Final-Recipient: rfc822; hank@example.net
Action: failed
Status: 5.2.1
Diagnostic-Code: smtp; 550 5.2.1 Mailbox disabled

--XYZ--
"""


def report(
    status_fields: str,
    *,
    outer: str = "multipart/report; report-type=delivery-status",
    status_headers: str = "Content-Type: message/delivery-status",
) -> bytes:
    """A DSN from a daemon whose status part holds `status_fields` as given."""
    return (
        "From: MAILER-DAEMON@relay.example.net\n"
        "To: dev+bounces=x=example.net@lists.example.org\n"
        "Subject: Delivery report\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: {outer}; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nSee the report.\n\n"
        f"--B\n{status_headers}\n\n{status_fields}\n--B--\n"
    ).encode()


# --- Standard reports ---------------------------------------------------------------------


def test_postfix_failure_is_permanent_for_the_final_recipient():
    assert read_bounce(POSTFIX_FAILED) == Bounce(
        BounceKind.permanent,
        [
            FailedRecipient(
                "nosuch@example.net",
                "5.1.1",
                "550 5.1.1 <nosuch@example.net>: Recipient address rejected: User unknown in"
                " virtual mailbox table",
                True,
            )
        ],
    )


def test_postfix_failure_with_crlf_line_endings_reads_the_same():
    crlf = POSTFIX_FAILED.replace(b"\n", b"\r\n")
    assert read_bounce(crlf) == read_bounce(POSTFIX_FAILED)


def test_postfix_delay_warning_is_temporary():
    bounce = read_bounce(POSTFIX_DELAYED)
    assert bounce.kind is BounceKind.temporary
    [recipient] = bounce.recipients
    assert recipient.address == "slow@example.com"
    assert recipient.status == "4.4.1"
    assert not recipient.permanent
    assert recipient.diagnostic == "connect to mx.example.com[192.0.2.20]:25: Connection timed out"


def test_gmail_report_is_permanent_with_its_folded_diagnostic_on_one_line():
    bounce = read_bounce(GMAIL_FAILED)
    assert bounce.kind is BounceKind.permanent
    [recipient] = bounce.recipients
    assert (recipient.address, recipient.status, recipient.permanent) == (
        "dave@gmail.com",
        "5.1.1",
        True,
    )
    assert recipient.diagnostic.startswith("550-5.1.1 The email account that you tried")
    assert "\n" not in recipient.diagnostic and "  " not in recipient.diagnostic


def test_exchange_ndr_is_permanent_and_lower_cases_the_address():
    bounce = read_bounce(EXCHANGE_NDR)
    assert bounce.kind is BounceKind.permanent
    assert bounce.recipients == [
        FailedRecipient(
            "erin@contoso.com",
            "5.1.10",
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            True,
        )
    ]


def test_one_failed_and_one_delayed_recipient_is_permanent_and_lists_both():
    bounce = read_bounce(TWO_RECIPIENTS)
    assert bounce.kind is BounceKind.permanent
    assert [(r.address, r.status, r.permanent) for r in bounce.recipients] == [
        ("gina@example.net", "4.2.2", False),
        ("hank@example.net", "5.2.1", True),
    ]


def test_success_report_is_not_a_bounce():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; relay.example.net\n\n"
            "Final-Recipient: rfc822; ivy@example.net\nAction: delivered\nStatus: 2.0.0\n"
        )
    )
    assert bounce.kind is BounceKind.not_a_bounce
    assert bounce.recipients == [FailedRecipient("ivy@example.net", "2.0.0", "", False)]


def test_relayed_and_expanded_recipients_are_not_failures():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; relay.example.net\n\n"
            "Final-Recipient: rfc822; a@example.net\nAction: relayed\nStatus: 2.0.0\n\n"
            "Final-Recipient: rfc822; b@example.net\nAction: expanded\nStatus: 2.0.0\n"
        )
    )
    assert bounce.kind is BounceKind.not_a_bounce
    assert [r.permanent for r in bounce.recipients] == [False, False]


def test_without_an_action_the_status_class_decides():
    failed = read_bounce(
        report("Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nStatus: 5.2.2\n")
    )
    delayed = read_bounce(
        report("Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nStatus: 4.2.2\n")
    )
    assert failed.kind is BounceKind.permanent and failed.recipients[0].permanent
    assert delayed.kind is BounceKind.temporary and not delayed.recipients[0].permanent


def test_failed_action_counts_even_with_a_4xx_status_after_retries_ran_out():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\n"
            "Final-Recipient: rfc822; a@b.net\nAction: failed\nStatus: 4.4.7\n"
        )
    )
    assert bounce.kind is BounceKind.permanent
    assert bounce.recipients[0].status == "4.4.7"


def test_original_recipient_stands_in_when_there_is_no_final_recipient():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\n"
            "Original-Recipient: RFC822; <Jo.Smith@Example.NET>\nAction: failed\nStatus: 5.1.1\n"
        )
    )
    assert bounce.recipients[0].address == "jo.smith@example.net"


def test_final_recipient_wins_over_original_recipient():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\n"
            "Original-Recipient: rfc822;old@example.net\n"
            "Final-Recipient: rfc822;new@example.org\nAction: failed\nStatus: 5.1.1\n"
        )
    )
    assert [r.address for r in bounce.recipients] == ["new@example.org"]


def test_status_comes_from_the_diagnostic_when_the_status_field_is_missing():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nAction: failed\n"
            "Diagnostic-Code: smtp; 550 5.7.1 Relaying denied\n"
        )
    )
    assert bounce.recipients[0].status == "5.7.1"


def test_first_status_block_with_a_recipient_is_read_as_a_recipient():
    bounce = read_bounce(
        report("Final-Recipient: rfc822; a@b.net\nAction: failed\nStatus: 5.1.1\n")
    )
    assert [(r.address, r.permanent) for r in bounce.recipients] == [("a@b.net", True)]


def test_recipient_fields_split_by_a_stray_blank_line_stay_together():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\n"
            "Final-Recipient: rfc822; a@b.net\n\n"
            "Action: failed\nStatus: 5.1.1\n\n"
            "Final-Recipient: rfc822; c@d.net\nAction: delayed\nStatus: 4.4.1\n"
        )
    )
    assert [(r.address, r.status, r.permanent) for r in bounce.recipients] == [
        ("a@b.net", "5.1.1", True),
        ("c@d.net", "4.4.1", False),
    ]


def test_delivery_status_part_nested_in_multipart_mixed_is_read():
    nested = (
        b"From: postmaster@example.net\n"
        b"To: dev+bounces=a=b.net@lists.example.org\n"
        b"Subject: Notice\n"
        b'Content-Type: multipart/mixed; boundary="OUT"\n\n'
        b"--OUT\nContent-Type: text/plain\n\nSee below.\n"
        b'--OUT\nContent-Type: multipart/alternative; boundary="IN"\n\n'
        b"--IN\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nAction: failed\n"
        b"Status: 5.1.1\n\n--IN--\n--OUT--\n"
    )
    assert read_bounce(nested).recipients == [FailedRecipient("a@b.net", "5.1.1", "", True)]


def test_base64_encoded_status_part_is_decoded():
    fields = (
        "Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nAction: failed\nStatus: 5.1.1\n"
    )
    encoded = base64.encodebytes(fields.encode()).decode()
    bounce = read_bounce(
        report(
            encoded,
            status_headers="Content-Type: message/delivery-status\n"
            "Content-Transfer-Encoding: base64",
        )
    )
    assert bounce.recipients == [FailedRecipient("a@b.net", "5.1.1", "", True)]


def test_global_delivery_status_is_read_too():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nAction: failed\n"
            "Status: 5.1.1\n",
            status_headers="Content-Type: message/global-delivery-status",
        )
    )
    assert bounce.recipients == [FailedRecipient("a@b.net", "5.1.1", "", True)]


def test_long_diagnostic_is_cut_to_its_limit():
    bounce = read_bounce(
        report(
            "Reporting-MTA: dns; r\n\nFinal-Recipient: rfc822; a@b.net\nAction: failed\n"
            "Status: 5.0.0\nDiagnostic-Code: smtp; 550 " + "x" * 2000 + "\n"
        )
    )
    assert len(bounce.recipients[0].diagnostic) == DIAGNOSTIC_MAX


def test_report_inside_a_returned_or_forwarded_message_is_not_read():
    forwarded = (
        b"From: Paula <paula@example.com>\n"
        b"To: dev+bounces=paula=example.com@lists.example.org\n"
        b"Subject: Fwd: look at this bounce\n"
        b'Content-Type: multipart/mixed; boundary="F"\n\n'
        b"--F\nContent-Type: text/plain\n\nWhy did this bounce?\n"
        b"--F\nContent-Type: message/rfc822\n\n" + POSTFIX_FAILED + b"\n--F--\n"
    )
    assert read_bounce(forwarded) == Bounce(BounceKind.not_a_bounce, [])


# --- Plain-text failure notices -------------------------------------------------------------


def test_exim_failure_notice_is_permanent_for_the_indented_address():
    assert read_bounce(EXIM_FAILED) == Bounce(
        BounceKind.permanent,
        [
            FailedRecipient(
                "bob@example.com",
                "5.1.1",
                "host mail.example.com [198.51.100.7] SMTP error from remote mail server after"
                " RCPT TO:<bob@example.com>: 550 5.1.1 <bob@example.com>: Recipient address"
                " rejected: User unknown",
                True,
            )
        ],
    )


def test_exim_delay_warning_is_temporary():
    bounce = read_bounce(EXIM_DELAYED)
    assert bounce.kind is BounceKind.temporary
    assert [(r.address, r.status, r.permanent) for r in bounce.recipients] == [
        ("bob@example.com", "4.3.0", False)
    ]


def test_qmail_failure_notice_is_permanent_and_ignores_the_quoted_copy():
    bounce = read_bounce(QMAIL_FAILED)
    assert bounce.kind is BounceKind.permanent
    assert bounce.recipients == [
        FailedRecipient(
            "carol@example.com",
            "5.1.1",
            "198.51.100.8 does not like recipient. Remote host said: 550 5.1.1"
            " <carol@example.com>... User unknown Giving up on 198.51.100.8.",
            True,
        )
    ]


def test_sendmail_failure_notice_lists_its_fatal_addresses():
    notice = b"""\
From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.org>
To: dev+bounces=kim=example.org@lists.example.org
Subject: Returned mail: see transcript for details

The original message was received at Tue, 2 Jan 2024 10:00:00 GMT
from lists.example.org [198.51.100.1]

   ----- The following addresses had permanent fatal errors -----
<kim@example.org>
    (reason: 550 5.1.1 <kim@example.org>... User unknown)

   ----- Transcript of session follows -----
... while talking to mx.example.org.:
>>> RCPT To:<kim@example.org>
<<< 550 5.1.1 <kim@example.org>... User unknown
550 5.1.1 <kim@example.org>... User unknown
"""
    bounce = read_bounce(notice)
    assert bounce.kind is BounceKind.permanent
    assert [(r.address, r.status) for r in bounce.recipients] == [("kim@example.org", "5.1.1")]


def test_generic_notice_finds_addresses_on_lines_with_a_failure_code():
    notice = b"""\
From: postmaster@mail.example.org
To: dev+bounces=lee=example.org@lists.example.org
Subject: Nondeliverable mail

Your message could not be delivered.
Lee@Example.org ... 550 Mailbox unavailable
For questions write to help@example.org.
"""
    bounce = read_bounce(notice)
    assert bounce.kind is BounceKind.permanent
    assert [(r.address, r.status) for r in bounce.recipients] == [("lee@example.org", "550")]


def test_notice_without_findable_addresses_is_permanent_with_no_recipients():
    notice = b"""\
From: Mail Delivery Subsystem <mailer-daemon@mail.example.org>
To: dev+bounces=lee=example.org@lists.example.org
Subject: failure notice

Something went wrong with your message. Sorry.
"""
    assert read_bounce(notice) == Bounce(BounceKind.permanent, [])


def test_x_failed_recipients_names_the_address_when_the_text_does_not():
    notice = b"""\
From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: dev+bounces=max=example.com@lists.example.org
X-Failed-Recipients: Max@example.com
Subject: Mail delivery failed: returning message to sender

Delivery failed.
"""
    assert read_bounce(notice) == Bounce(
        BounceKind.permanent, [FailedRecipient("max@example.com", "", "", True)]
    )


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Mail delivery failed: returning message to sender",
        "failure notice",
        "Undeliverable: [dev] Release plan",
        "Delivery Status Notification (Failure)",
        "Returned mail: see transcript for details",
    ],
)
def test_failure_subject_marks_a_notice_from_any_sender_as_permanent(subject):
    notice = (
        "From: Mail Server <robot@mail.example.org>\n"
        "To: dev+bounces=nat=example.org@lists.example.org\n"
        "Auto-Submitted: auto-replied\n"
        f"Subject: {subject}\n\n"
        "<nat@example.org>: 550 5.1.1 no such user\n"
    ).encode()
    bounce = read_bounce(notice)
    assert bounce.kind is BounceKind.permanent
    assert [r.address for r in bounce.recipients] == ["nat@example.org"]


def test_exchange_notice_without_a_report_part_finds_the_address_above_the_server_reply():
    text_only = EXCHANGE_NDR.replace(
        b"multipart/report; report-type=delivery-status", b"multipart/mixed"
    )
    text_only = text_only.replace(
        b"Content-Type: message/delivery-status", b"Content-Type: text/x-log"
    )
    bounce = read_bounce(text_only)
    assert bounce.kind is BounceKind.permanent
    assert [(r.address, r.status) for r in bounce.recipients] == [("erin@contoso.com", "5.1.10")]
    assert bounce.recipients[0].diagnostic.startswith("erin@contoso.com Remote Server returned")


def test_html_only_notice_is_read_for_addresses():
    notice = b"""\
From: postmaster@mail.example.org
To: dev+bounces=oli=example.org@lists.example.org
Subject: Undeliverable: [dev] Release plan
Content-Type: text/html; charset=utf-8

<html><body><p>Delivery has failed:</p><p>oli@example.org<br>
Remote Server returned '550 5.1.1 User unknown'</p></body></html>
"""
    bounce = read_bounce(notice)
    assert [(r.address, r.status) for r in bounce.recipients] == [("oli@example.org", "5.1.1")]


# --- Not bounces ------------------------------------------------------------------------------


def test_vacation_auto_reply_is_not_a_bounce():
    assert read_bounce(VACATION) == Bounce(BounceKind.not_a_bounce, [])


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: Automatic reply: [dev] Release plan\nAuto-Submitted: auto-generated\n",
        "Subject: =?UTF-8?Q?Abwesenheitsnotiz=3A_=5Bdev=5D_Release_plan?=\n",
        "Subject: Auto: [dev] Release plan\n",
        "Subject: Re: [dev] Release plan\nAuto-Submitted: auto-replied\n",
        "Subject: failure notice\nX-Autorespond: yes\n",
        "Subject: Undeliverable: [dev] Release plan\nPrecedence: auto_reply\n",
    ],
)
def test_auto_replies_are_not_bounces(headers):
    reply = (
        "From: Quinn <quinn@example.com>\n"
        "To: dev+bounces=quinn=example.com@lists.example.org\n"
        f"{headers}\n"
        "I am away. quinn@example.com 550 reasons to go on holiday.\n"
    ).encode()
    assert read_bounce(reply).kind is BounceKind.not_a_bounce


def test_challenge_response_is_not_a_bounce():
    challenge = b"""\
From: Spam Filter <verify@example.com>
To: dev+bounces=rita=example.com@lists.example.org
Subject: Please confirm your message to rita@example.com
Auto-Submitted: auto-replied

To have your message delivered, click the link below.
"""
    assert read_bounce(challenge) == Bounce(BounceKind.not_a_bounce, [])


def test_success_notice_from_a_daemon_without_a_report_part_is_not_a_bounce():
    notice = b"""\
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: dev+bounces=uma=gmail.com@lists.example.org
Subject: Delivery Status Notification (Success)

Your message has been delivered to uma@gmail.com: 250 2.0.0 OK
"""
    assert read_bounce(notice) == Bounce(BounceKind.not_a_bounce, [])


def test_ordinary_message_is_not_a_bounce():
    message = b"From: sam@example.com\nTo: dev@lists.example.org\nSubject: hello\n\nhi\n"
    assert read_bounce(message) == Bounce(BounceKind.not_a_bounce, [])


def test_empty_message_is_not_a_bounce():
    assert read_bounce(b"") == Bounce(BounceKind.not_a_bounce, [])


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe\x80garbage\r\n\r\n\xc3(",
        b"Content-Type: multipart/report; boundary=\n\n--\n--",
        b"From: MAILER-DAEMON@x\nContent-Type: multipart/report; report-type=delivery-status;"
        b" boundary=Q\n\n--Q\nContent-Type: message/delivery-status\n\n:::\n\n\n:\n--Q",
        b"Subject: =?utf-8?b?!!!?=\nFrom: =?bogus-charset?q?x?= <MAILER-DAEMON@x>\n\n\xff",
        POSTFIX_FAILED[: len(POSTFIX_FAILED) // 2],
    ],
)
def test_garbage_is_not_read_as_anything_and_never_raises(raw):
    assert read_bounce(raw).kind in set(BounceKind)


def test_damaged_reports_are_read_without_tripping_the_safety_net(caplog):
    rng = random.Random(1153)
    samples = [POSTFIX_FAILED, EXIM_FAILED, QMAIL_FAILED, GMAIL_FAILED, EXCHANGE_NDR]
    for _ in range(300):
        raw = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 40)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        assert isinstance(read_bounce(bytes(raw)), Bounce)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "body",
    [b"-" * 100_000, b"<" + b"-" * 100_000, b"<" * 200_000, b"<script>" * 25_000, b"a" * 1_000_000],
)
@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
def test_hostile_notice_text_is_read_in_linear_time(body, ctype):
    raw = (
        f"From: MAILER-DAEMON@mail.example.org\nSubject: failure notice\n"
        f"Content-Type: {ctype}\n\nThe following addresses had permanent fatal errors\n"
    ).encode() + body
    started = time.monotonic()
    assert read_bounce(raw).kind is BounceKind.permanent
    assert time.monotonic() - started < 2  # a backtracking regex takes minutes here


def test_unknown_charset_in_a_notice_does_not_stop_it_being_read():
    notice = (
        b"From: MAILER-DAEMON@mail.example.org\n"
        b"Subject: failure notice\n"
        b"Content-Type: text/plain; charset=x-unknown-charset\n\n"
        b"<tom@example.org>:\n550 5.1.1 unknown \xe9\n"
    )
    assert [r.address for r in read_bounce(notice).recipients] == ["tom@example.org"]
