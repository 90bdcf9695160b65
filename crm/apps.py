from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from crm.services.roles import roles_sync_after_migrate
        from crm.tasks.messaging import sender_on_worker_spawn

        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="crm-roles-sync")
        post_spawn.connect(sender_on_worker_spawn, dispatch_uid="crm-sender-on-spawn")
