"""Admin for users and their API tokens.

A token made here shows its secret once, in the message after saving; the list names tokens
by their prefix only. Revoking is an action (ApiToken.revoke, audited), not a deletion, so
the trail of which token did what keeps its subject.
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.utils import timezone

from jobs import audit
from jobs.admin.common import badge, operator

from .models import ApiToken, User

admin.site.register(User, UserAdmin)


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("usable", "Usable"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "usable":
            return queryset.usable(now=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class NewTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")
        help_texts = {"expires_at": "Empty: the token never expires."}


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ("jobs/admin.css",)}

    form = NewTokenForm
    actions = ["revoke"]
    list_display = (
        "prefix_display",
        "user",
        "name",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
    )
    list_filter = (TokenStatusFilter,)
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    ordering = ("-created_at",)
    readonly_fields = (
        "prefix_display",
        "user",
        "name",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )

    def get_fields(self, request, obj=None):
        return NewTokenForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request):
        expires = timezone.now() + timedelta(hours=settings.API_TOKEN_TTL_HOURS)
        return {"expires_at": expires, **super().get_changeform_initial_data(request)}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A token is never edited: it is made, used, and revoked.
        context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the audit trail names tokens by prefix

    def save_model(self, request, obj, form, change):
        if change:
            return
        with audit.acting_as(operator(request)):
            token, secret = ApiToken.issue(
                user=form.cleaned_data["user"],
                name=form.cleaned_data["name"],
                expires_at=form.cleaned_data["expires_at"],
            )
        # The form's instance takes the saved token's identity so the admin's redirect and
        # log name it; the secret exists only in this message.
        obj.pk, obj.prefix, obj.key_hash = token.pk, token.prefix, token.key_hash
        obj._state.adding = False
        messages.warning(
            request,
            f"The new token for {token.user} is {secret} — copy it now: it is not shown again.",
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        with audit.acting_as(operator(request)):
            for token in queryset:
                revoked += token.revoke()
        skipped = queryset.count() - revoked
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} were revoked already.", messages.WARNING)

    @admin.display(description="token", ordering="prefix")
    def prefix_display(self, token):
        return f"{token.prefix}…"

    @admin.display(description="status")
    def status(self, token):
        if token.revoked_at:
            return badge("revoked")
        if not token.is_usable:
            return badge("expired")
        return badge("usable")
