"""Base classes every CRM admin uses: Unfold styling plus row-level scoping for reps.

Scoping lives in one place (crm.selectors.access) and is applied to the changelist,
object lookups (change, delete, history), foreign-key and many-to-many choices,
autocomplete results, exports and actions, because all of those go through
`get_queryset` or `formfield_for_*` here.
"""

from unfold.admin import ModelAdmin, StackedInline, TabularInline

from crm.selectors.access import scope_queryset


class ScopedQuerysetMixin:
    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def _scope_choices(self, db_field, request, kwargs):
        if "queryset" in kwargs:
            kwargs["queryset"] = scope_queryset(kwargs["queryset"], request.user)
        else:
            related = db_field.remote_field.model
            kwargs["queryset"] = scope_queryset(related._default_manager.all(), request.user)
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if request.user.is_rep:
            kwargs = self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if request.user.is_rep:
            kwargs = self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class CRMModelAdmin(ScopedQuerysetMixin, ModelAdmin):
    """Every CRM ModelAdmin: Unfold look, rep scoping, filters applied with a button."""

    list_filter_submit = True
    list_per_page = 50
    warn_unsaved_form = True


class ReadOnlyAdminMixin:
    """Records written only by the system (webhooks, tracking): viewable, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyTabularInline(ScopedQuerysetMixin, ReadOnlyAdminMixin, TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True
    per_page = 20

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or [f.name for f in self.model._meta.fields]


class ScopedTabularInline(ScopedQuerysetMixin, TabularInline):
    extra = 0


class ScopedStackedInline(ScopedQuerysetMixin, StackedInline):
    extra = 0


