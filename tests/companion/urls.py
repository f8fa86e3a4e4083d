from django.http import JsonResponse
from django.urls import include, path
from health_check.views import HealthCheckView


def notifications(request):
    """The app's polling fallback (what the browser uses when the socket fails)."""
    return JsonResponse({"count": 0, "results": []})


urlpatterns = [
    path("api/", include("wsmonitor.django.urls")),
    path("api/notifications/", notifications),
    path("health/", HealthCheckView.as_view(
        checks=["wsmonitor.django.health.ChannelLayerHealthCheck"])),
]
