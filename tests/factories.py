import datetime

import factory
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from authorities.constants import AuthorityKind, AuthorityStatus, Instrument
from authorities.models import Authority, AuthorityDomain, User

PASSWORD = "correct-horse-battery-9"


class AuthorityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Authority
        skip_postgeneration_save = True

    id = factory.Sequence(lambda n: f"FR-TEST{n}")
    name = factory.Sequence(lambda n: f"Autorité de test {n}")
    name_en = factory.Sequence(lambda n: f"Test authority {n}")
    country = "FR"
    kind = AuthorityKind.PROSECUTOR
    instruments = factory.LazyFunction(lambda: [i.value for i in Instrument])
    callback_phone = "+33100000000"
    source_list = "Test list"
    source_reference = "https://example.eu/list"
    source_checked = datetime.date(2026, 11, 1)
    status = AuthorityStatus.ACTIVE

    @factory.post_generation
    def domains(self, create, extracted, **kwargs):
        for domain in extracted or [f"{self.id.lower()}.justice.example"]:
            AuthorityDomain.objects.create(authority=self, domain=domain)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@platform.example")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)
    email_verified_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def saved(self, create, extracted, **kwargs):
        if create:
            self.save()


class OfficerFactory(UserFactory):
    authority = factory.SubFactory(AuthorityFactory)
    email = factory.LazyAttributeSequence(
        lambda o, n: f"officer{n}@{o.authority.domains.first().domain}"
    )
    approved_at = factory.LazyFunction(timezone.now)


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)
