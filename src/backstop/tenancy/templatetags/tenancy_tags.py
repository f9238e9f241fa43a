from django import template

from backstop.tenancy import permissions as perms

register = template.Library()


@register.filter
def get_item(mapping: dict[object, object], key: object) -> object:
    return mapping.get(key)


@register.filter
def operation_label(code: str) -> str:
    return perms.label_of(code)
