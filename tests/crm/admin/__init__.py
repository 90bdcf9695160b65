"""Helpers shared by the admin tests."""

from django.forms import MultiWidget
from django.urls import reverse


def admin_url(model, view: str, *args) -> str:
    """reverse() of an admin view of `model`: changelist, add, change, delete, history."""
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def changeform_post_data(response) -> dict:
    """The POST body the change form would send unchanged: main form + every inline."""
    data = {}

    def add_form(form):
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field.widget, MultiWidget):
                parts = value if isinstance(value, list | tuple) else field.widget.decompress(value)
                for index, part in enumerate(parts):
                    if part not in (None, ""):
                        data[f"{key}_{index}"] = part
            elif value is None or value is False:
                continue
            elif value is True:
                data[key] = "on"
            else:
                data[key] = value

    add_form(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add_form(formset.management_form)
        for form in formset.forms:
            add_form(form)
    return data
