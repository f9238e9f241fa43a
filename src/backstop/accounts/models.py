"""People who sign in. What they may do is decided by their memberships (backstop.tenancy)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """Signs in by e-mail; there is no user name."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    show_billing_banners = models.BooleanField(
        "show billing notification banners",
        default=True,
        help_text="Overdue and due bills in the page header.",
    )
    password_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="For password expiration; empty means since the user joined."
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email
