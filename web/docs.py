"""The API's documentation pages, served entirely from our own static files.

drf-spectacular's Redoc page asks Google for its fonts; ours leaves that out, so the page
makes no request beyond this server and renders the same with no internet (in the
browser's default fonts). Swagger UI's page already loads only sidecar files.
"""

from django.template import engines
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView
from rest_framework.renderers import StaticHTMLRenderer
from rest_framework.response import Response

REDOC_PAGE = engines["django"].from_string(
    """<!DOCTYPE html>
<html>
  <head>
    <title>{{ title }}</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="{{ schema_url }}"></redoc>
    <script src="{{ redoc_standalone }}"></script>
  </body>
</html>
"""
)


class RedocView(SpectacularRedocView):
    renderer_classes = [StaticHTMLRenderer]

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        page = REDOC_PAGE.render(
            {
                "title": self.title,
                "schema_url": self._get_schema_url(request),
                "redoc_standalone": self._redoc_standalone(),
            }
        )
        return Response(page)
