from django import forms
from django.contrib import admin

from . import actions
from .models import CalendarEvent


class CalendarEventForm(forms.ModelForm):
    class Meta:
        model = CalendarEvent
        fields = ("supplier", *actions.EDITABLE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in actions.EDITABLE_FIELDS}
        values["attendees"] = values.get("attendees") or []
        try:
            actions.validate_event_values(values)
        except actions.EventValidationError as exc:
            for field, message in exc.errors.items():
                self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(CalendarEvent)
class CalendarEventAdmin(admin.ModelAdmin):
    """Events are editable here for support and the demo; saves go through the actions module."""

    form = CalendarEventForm

    list_display = ("title", "event_type", "supplier", "starts_at", "time_zone", "version", "is_deleted")
    list_filter = ("event_type", "is_deleted")
    search_fields = ("title", "supplier__email", "supplier__username", "client_name", "wedding_reference")
    readonly_fields = ("id", "version", "is_deleted", "deleted_at", "created_at", "updated_at")
    ordering = ("-starts_at",)

    def get_queryset(self, request):
        """Support staff (superusers) see every supplier's events; a supplier only their own."""
        events = super().get_queryset(request)
        return events if request.user.is_superuser else events.filter(supplier=request.user)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser:
            form.base_fields["supplier"].queryset = form.base_fields["supplier"].queryset.filter(pk=request.user.pk)
        return form

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in actions.EDITABLE_FIELDS if name in form.cleaned_data}
        if change:
            stored = self.get_object(request, obj.pk)
            actions.update_event(stored, **values)
        else:
            created = actions.create_event(form.cleaned_data["supplier"], **values)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        actions.delete_event(obj)

    def delete_queryset(self, request, queryset):
        for event in queryset:
            actions.delete_event(event)
