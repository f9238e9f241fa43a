from django.http import HttpRequest, HttpResponse


def receive(request: HttpRequest, gateway_name: str) -> HttpResponse:
    return HttpResponse(status=404)
