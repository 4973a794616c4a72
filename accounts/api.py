"""Auth endpoints: register, token (log in), logout (revoke), me, and your tokens.

A login issues a new API token valid for API_TOKEN_TTL_HOURS; its secret is in the response
and nowhere else (the database keeps its hash). Register and token are throttled per client
address (the `register` and `login` rates), token also per username tried (`login_username`),
and neither takes credentials.
"""

from datetime import timedelta

from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, router, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from web.query import StrictQueryMixin
from web.serializers import StrictFieldsMixin
from web.throttles import LoginThrottle, RegisterThrottle

from . import conf
from .actors import Actor, acting_as, actor_for_user
from .models import ApiToken
from .throttles import LoginUsernameThrottle

User = get_user_model()
SIGN_IN_VIA = "API sign-in"  # audit `via` of tokens issued for a username and password


def token_issue(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Issue a token for `user` that expires after API_TOKEN_TTL_HOURS; return it and its secret."""
    expires_at = timezone.now() + timedelta(hours=conf.API_TOKEN_TTL_HOURS)
    return ApiToken.issue(user=user, name=name, expires_at=expires_at)


def signing_in(request, user) -> Actor:
    """Return the audit actor for what signing `user` in does.

    Register and log in carry no token, so the request alone would name an anonymous actor.
    """
    return actor_for_user(user, SIGN_IN_VIA, request.META.get("REMOTE_ADDR"))


# --- Serializers ------------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="May be empty.")

    class Meta:
        model = User
        fields = ("id", "username", "email", "is_staff", "date_joined")
        read_only_fields = fields


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The secret: shown this once, send it as Bearer.")
    expires_at = serializers.DateTimeField()


class RegisterSerializer(StrictFieldsMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )

    def validate_username(self, value):
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate(self, attrs):
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class RegisteredSerializer(IssuedTokenSerializer):
    user = UserSerializer()


class LoginSerializer(StrictFieldsMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    name = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="A label for the token.",
    )


class TokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text="The token of this request.")

    class Meta:
        model = ApiToken
        fields = (
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "current",
        )
        read_only_fields = fields

    def get_current(self, token: ApiToken) -> bool:
        request = self.context.get("request")
        return getattr(getattr(request, "auth", None), "pk", None) == token.pk


# --- Views ------------------------------------------------------------------------------


class PublicView(StrictQueryMixin, APIView):
    """Takes no credentials and is throttled (per client address at least)."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]


class RegisterView(PublicView):
    throttle_classes = [RegisterThrottle]
    may_forbid = True  # 403 while ALLOW_REGISTRATION is off

    @extend_schema(
        tags=["auth"],
        operation_id="auth_register",
        summary="Create an account and get a token",
        request=RegisterSerializer,
        responses={201: RegisteredSerializer},
        examples=[
            OpenApiExample(
                "Sign up",
                request_only=True,
                value={"username": "alice", "email": "alice@example.com", "password": "…"},
            )
        ],
    )
    def post(self, request):
        """Create an account and return it with a new token (403 when registration is off)."""
        if not conf.ALLOW_REGISTRATION:
            raise PermissionDenied("Registration is switched off on this server.")
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with transaction.atomic(using=router.db_for_write(User)):
                user = User.objects.create_user(
                    username=data["username"], email=data["email"], password=data["password"]
                )
                with acting_as(signing_in(request, user)):
                    token, secret = token_issue(user=user, name="register")
        except IntegrityError:  # the same name, registered between our check and the INSERT
            raise serializers.ValidationError(
                {"username": ["A user with that username already exists."]}
            ) from None
        body = {"user": user, "token": secret, "expires_at": token.expires_at}
        return Response(RegisteredSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenView(PublicView):
    throttle_classes = [LoginThrottle, LoginUsernameThrottle]

    @extend_schema(
        tags=["auth"],
        operation_id="auth_token",
        summary="Log in: get a new token",
        request=LoginSerializer,
        responses=IssuedTokenSerializer,
        examples=[
            OpenApiExample(
                "Log in",
                request_only=True,
                value={"username": "alice", "password": "…", "name": "deploy script"},
            )
        ],
    )
    def post(self, request):
        """Exchange a username and password for a new token (400 if they do not match)."""
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:  # wrong password, unknown or inactive user: one answer for all
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with these credentials."]}
            )
        with acting_as(signing_in(request, user)):
            token, secret = token_issue(user=user, name=data["name"])
        return Response(
            IssuedTokenSerializer({"token": secret, "expires_at": token.expires_at}).data
        )


class LogoutView(StrictQueryMixin, APIView):
    @extend_schema(
        tags=["auth"],
        operation_id="auth_logout",
        summary="Log out: revoke this token",
        request=None,
        responses={204: None},
    )
    def post(self, request):
        """Revoke the token this request was sent with."""
        if isinstance(request.auth, ApiToken):
            request.auth.revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(StrictQueryMixin, APIView):
    @extend_schema(
        tags=["auth"],
        operation_id="auth_me",
        summary="Show the current user",
        responses=UserSerializer,
    )
    def get(self, request):
        """The user the token belongs to."""
        return Response(UserSerializer(request.user).data)


@extend_schema_view(
    list=extend_schema(summary="List your tokens"),
    destroy=extend_schema(summary="Revoke one of your tokens"),
)
@extend_schema(tags=["auth"])
class TokenViewSet(
    StrictQueryMixin, mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your API tokens (secrets are never shown again); revoking one takes effect at once."""

    serializer_class = TokenSerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no user
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user)

    def perform_destroy(self, instance):
        instance.revoke()
