"""The sealed documents of the legal team's actions (issue 18; docs/receipts.md): written,
sealed and stored in the transaction of the action they attest, like the receipt
(receipts.py), with the same PDF and seal (sealing.py).

- The Annex III-style notice of a refusal or of a clarification request (e-Evidence Regulation
  2023/1543, Annex III: the information on the impossibility to execute an EPOC or EPOC-PR): the
  order, the issuing authority, the ground and the explanation, or the question asked, and when.
  The notice page (views.refusal_notice) shows the same refusal on screen.
- The manifest of a delivery of produced data: each file's name, size and SHA-256, who released
  it and when, and when the download expires, so the authority can prove what it received.

Written in the officer's language, times in their time zone and in UTC, as the receipt.
"""

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from authorities.models import User
from portal.emails import absolute_url

from . import instruments, sealing
from .models import LegalRequest, Message, ProducedData, RefusalGround, RequestEvent, SealedDocument

Kind = SealedDocument.Kind


def refusal_ground_and_explanation(event: RequestEvent) -> tuple[str, str]:
    """A refusal event's ground, as its label in the active language, and its explanation
    (services.legal_request_refuse stores them as "<ground>: <explanation>")."""
    ground, _, explanation = event.detail.partition(": ")
    label = str(RefusalGround(ground).label) if ground in RefusalGround.values else ground
    return label, explanation


def refusal_notice_issue(*, legal_request: LegalRequest, event: RequestEvent) -> SealedDocument:
    """The sealed notice of a refusal (call it in legal_request_refuse's transaction)."""
    return _issue(legal_request, event, Kind.REFUSAL_NOTICE, _notice_lines(legal_request, event))


def clarification_notice_issue(
    *, legal_request: LegalRequest, event: RequestEvent, question: Message
) -> SealedDocument:
    """The sealed notice of a clarification request (in its service's transaction)."""
    return _issue(
        legal_request,
        event,
        Kind.CLARIFICATION_NOTICE,
        _notice_lines(legal_request, event, question=question.body),
    )


def delivery_manifest_issue(
    *,
    legal_request: LegalRequest,
    event: RequestEvent,
    produced: list[ProducedData],
    released_by: User,
) -> SealedDocument:
    """The sealed manifest of a delivery (in legal_request_respond's transaction)."""
    return _issue(
        legal_request,
        event,
        Kind.DELIVERY_MANIFEST,
        _manifest_lines(legal_request, event, produced, released_by),
    )


def email_context(document: SealedDocument) -> dict:
    """What the officer's e-mail says of a sealed document: its kind, SHA-256 and where to
    download it; never its content (as the acknowledgment names the receipt)."""
    return {
        "sealed_kind": document.kind,
        "sealed_sha256": document.sha256,
        "sealed_link": absolute_url(
            reverse("requests:sealed", args=[document.request.public_id, document.public_id])
        ),
    }


def _issue(
    legal_request: LegalRequest, event: RequestEvent, kind: str, lines: list[str]
) -> SealedDocument:
    document = SealedDocument(request=legal_request, event=event, kind=kind)
    title = f"{Kind(kind).label} {legal_request.reference}"  # the PDF's metadata: English
    sealing.seal_and_store(document, lines=lines, title=title, reason=title)
    return document


def _demo_lines() -> list[str]:
    if not sealing.is_demo():
        return []
    return [
        gettext("DEMO SEAL: this document is sealed with a demonstration certificate."),
        gettext("It proves nothing; a production platform has a real seal."),
        "",
    ]


def _order_lines(legal_request: LegalRequest, both) -> list[str]:
    return [
        gettext("Reference: %(reference)s") % {"reference": legal_request.reference},
        gettext("Instrument: %(instrument)s")
        % {"instrument": instruments.rule_for(legal_request.instrument).label},
        gettext("Case reference: %(case)s") % {"case": legal_request.case_reference or "-"},
        gettext("Received: %(at)s") % {"at": both(legal_request.received_at)},
    ]


def _seal_lines() -> list[str]:
    return [
        "",
        gettext(
            "The platform sealed this document with its electronic seal (PAdES). Any change to "
            "this file breaks the seal. To check it, see the portal's documentation "
            "(docs/receipts.md)."
        ),
    ]


def _notice_lines(
    legal_request: LegalRequest, event: RequestEvent, *, question: str | None = None
) -> list[str]:
    """Annex III's parts, in its order: the order (A), the issuing authority (B), the addressee
    (C), the reason (D) with its explanation (E), the date (F); a clarification's question
    takes the place of the ground."""
    zone = legal_request.officer.time_zone or "UTC"

    def both(value) -> str:
        return sealing.both_times(value, zone)

    with translation.override(legal_request.officer.preferred_language or "en"):
        lines = _demo_lines()
        authority, officer = sealing.authority_lines(legal_request)
        lines += [
            gettext("Notice: the platform cannot comply")
            if question is None
            else gettext("Notice: the platform asks for a clarification"),
            gettext(
                "Modelled on Annex III of Regulation (EU) 2023/1543 (information on the "
                "inability to execute an order)."
            ),
            "",
            gettext("A. Order concerned"),
            *_order_lines(legal_request, both),
            f"B. {authority}",
            officer,
            gettext("C. Addressee: the platform's legal team"),
        ]
        if question is None:
            ground, explanation = refusal_ground_and_explanation(event)
            lines += [
                gettext("D. Ground: %(ground)s") % {"ground": ground},
                gettext("E. Explanation:"),
                *explanation.splitlines(),
                gettext("F. Date and time of the refusal: %(at)s") % {"at": both(event.at)},
            ]
        else:
            lines += [
                gettext("D. Reason: the order needs a clarification before it can be executed"),
                gettext("E. Question asked:"),
                *question.splitlines(),
                gettext("F. Date and time of the request: %(at)s") % {"at": both(event.at)},
                "",
                gettext(
                    "The legal clock is stopped until the authority answers on the request's page."
                ),
            ]
        lines += _seal_lines()
    return sealing.wrapped(lines)


def _manifest_lines(
    legal_request: LegalRequest,
    event: RequestEvent,
    produced: list[ProducedData],
    released_by: User,
) -> list[str]:
    zone = legal_request.officer.time_zone or "UTC"

    def both(value) -> str:
        return sealing.both_times(value, zone)

    with translation.override(legal_request.officer.preferred_language or "en"):
        lines = _demo_lines()
        lines += [
            gettext("Delivery manifest"),
            "",
            *_order_lines(legal_request, both),
            *sealing.authority_lines(legal_request),
            "",
            gettext("Delivery: partial response")
            if event.kind == RequestEvent.Kind.PARTIALLY_RESPONDED
            else gettext("Delivery: response"),
        ]
        if event.detail:
            lines.append(gettext("Note: %(note)s") % {"note": event.detail})
        lines += [
            gettext("Released by: %(name)s (the platform's legal team)")
            % {"name": released_by.full_name},
            gettext("Released at: %(at)s") % {"at": both(event.at)},
            gettext("Download expires: %(at)s") % {"at": both(min(p.expires_at for p in produced))},
            "",
            gettext("Files delivered (SHA-256):"),
        ]
        for file in produced:
            lines.append(
                gettext("- %(name)s (%(size)s bytes)")
                % {"name": file.original_name, "size": file.size}
            )
            lines.append(f"  {file.sha256}")
        lines += [
            "",
            gettext(
                "Check each file downloaded: its SHA-256 (sha256sum FILE) must be the one above."
            ),
            *_seal_lines(),
        ]
    return sealing.wrapped(lines)
