"""Admin for users and their API tokens.

A token made here shows its secret once, in the message after saving; the list names tokens
by their prefix only. Revoking is an action (ApiToken.revoke, audited), not a deletion, so
the trail of which token did what keeps its subject.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from web.display import badge

from . import conf
from .actors import acting_as, admin_actor
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
        expires = timezone.now() + timedelta(hours=conf.API_TOKEN_TTL_HOURS)
        return {
            "expires_at": expires,
            "user": request.user.pk,
            **super().get_changeform_initial_data(request),
        }

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and "user" in form.base_fields:
            form.base_fields["user"].queryset = ApiToken.users_for(request.user)
        return form

    def has_change_permission(self, request, obj=None):
        # A token is never edited: it is made, used, and revoked (an action, obj=None).
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the audit trail names tokens by prefix

    def save_model(self, request, obj, form, change):
        owner = form.cleaned_data["user"]
        if change or not ApiToken.users_for(request.user).filter(pk=owner.pk).exists():
            raise PermissionDenied  # the form offers only these; a forged POST gets nothing
        with acting_as(admin_actor(request)):
            token, secret = ApiToken.issue(
                user=owner,
                name=form.cleaned_data["name"],
                expires_at=form.cleaned_data["expires_at"],
            )
        # The form's instance takes the saved token's identity so the admin's log names it.
        obj.pk, obj.prefix, obj.key_hash = token.pk, token.prefix, token.key_hash
        obj._state.adding = False
        request._issued_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        # The secret is shown in this response only: a message would carry it in a cookie.
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "token": obj,
            "secret": request._issued_secret,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/accounts/apitoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        with acting_as(admin_actor(request)):
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
