"""A single sign-on through the account's SAML identity provider is a sign-in in the audit too,
named by the kind of provider rather than the connection's own id."""

from __future__ import annotations

import pytest

from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.sso.models import SamlConnection
from tests.conftest import Personas
from tests.sso.conftest import acme_sso, idp, post_to_acs, start
from tests.sso.idp import TestIdP

pytestmark = pytest.mark.django_db

__all__ = ["acme_sso", "idp"]  # fixtures


def test_a_saml_sign_in_is_audited_as_single_sign_on(
    personas: Personas, idp: TestIdP, acme_sso: SamlConnection
) -> None:
    started = start(acme_sso.slug)
    request = idp.read_request(started.location)
    finished = post_to_acs(started.client, request, idp.response(request, "alice@acme.test"))
    assert finished.status_code == 302

    event = AuditEvent.objects.get(activity=events.SIGN_IN)
    assert (event.account, event.status, event.performed_by) == (
        personas.a,
        AuditEvent.Status.SUCCEEDED,
        "alice@acme.test",
    )
    assert event.description.startswith("Signed in with single sign-on (")
