from django.urls import include, path
from health_check.views import HealthCheckView

urlpatterns = [
    path("api/", include("wsmonitor.django.urls")),
    path("health/", HealthCheckView.as_view(
        checks=["wsmonitor.django.health.ChannelLayerHealthCheck"])),
]
