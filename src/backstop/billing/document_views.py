from django.http import Http404, HttpRequest, HttpResponse


def download(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404
