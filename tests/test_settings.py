"""Settings contracts: migrations match the models, production is deploy-clean and has no
default secrets, and the database and task broker follow the environment.

Each check runs Django in a subprocess with an explicit environment, because settings are
read once per process. The subprocess never reads a `.env` file, so a developer's local
configuration cannot change the outcome.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Every variable settings/env.py reads, e.g. env.str("DATABASE_URL", default="").
ENV_VARS = sorted(
    set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', (REPO_ROOT / "settings/env.py").read_text()))
)
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "crm.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "PUBLIC_BASE_URL": "https://crm.example.com",
}
# Prepended to every subprocess: settings/env.py then sees only the environment we pass.
NO_DOTENV = "import environ; environ.Env.read_env = classmethod(lambda cls, *a, **k: None)\n"
SETTINGS_PROBE = (
    "import json\n"
    "from django.conf import settings\n"
    "print(json.dumps({'DATABASES': settings.DATABASES, 'Q_CLUSTER': settings.Q_CLUSTER},"
    " default=str))\n"
)


def clean_env(settings_module: str, **variables: str) -> dict[str, str]:
    """The current environment minus everything settings/env.py reads, plus `variables`."""
    # DJANGO_ALLOW_ASYNC_UNSAFE is set while the browser tests' Playwright loop runs.
    env = {key: value for key, value in os.environ.items()
           if key not in ENV_VARS and key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env.update(variables)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_DOTENV + code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['manage.py', *{list(args)!r}]\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
    )
    return run_python(code, env)


def load_settings(settings_module: str, **variables: str) -> dict:
    result = run_python(SETTINGS_PROBE, clean_env(settings_module, **variables))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_env_vars_are_found_in_settings_env():
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(ENV_VARS)


def test_migrations_match_the_models(tmp_path):
    # A throwaway SQLite file: the command checks migration history against the database.
    env = clean_env("settings.test", DATABASE_URL=f"sqlite:///{tmp_path / 'check.sqlite3'}")
    result = run_manage(env, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_passes_check_deploy():
    env = clean_env("settings.production", **PRODUCTION_ENV)
    result = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("variable", sorted(PRODUCTION_ENV))
def test_production_refuses_to_load_without_a_required_variable(variable):
    env = clean_env("settings.production", **PRODUCTION_ENV)
    del env[variable]
    result = run_python("from django.conf import settings\nsettings.SECRET_KEY\n", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_production_refuses_an_empty_secret_key():
    env = clean_env("settings.production", **{**PRODUCTION_ENV, "DJANGO_SECRET_KEY": ""})
    result = run_python("from django.conf import settings\nsettings.SECRET_KEY\n", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_local_defaults_to_sqlite_and_the_orm_broker():
    loaded = load_settings("settings.local")
    assert loaded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["Q_CLUSTER"]["orm"] == "default"
    assert "redis" not in loaded["Q_CLUSTER"]


def test_database_url_selects_postgresql():
    loaded = load_settings("settings.local", DATABASE_URL="postgres://postgres@127.0.0.1:5432/crm")
    database = loaded["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "crm"


def test_redis_url_selects_the_redis_broker():
    loaded = load_settings("settings.local", REDIS_URL="redis://127.0.0.1:6379/0")
    assert loaded["Q_CLUSTER"]["redis"] == "redis://127.0.0.1:6379/0"
    assert "orm" not in loaded["Q_CLUSTER"]


@pytest.mark.parametrize("settings_module", ["settings.local", "settings.test"])
def test_a_slow_task_is_not_retried_while_it_still_runs(settings_module):
    q_cluster = load_settings(settings_module)["Q_CLUSTER"]
    assert q_cluster["timeout"] < q_cluster["retry"]
    # django-q2 treats max_attempts=0 as "retry forever".
    assert isinstance(q_cluster["max_attempts"], int)
    assert q_cluster["max_attempts"] > 0


def test_tasks_run_synchronously_under_test_settings():
    assert load_settings("settings.test")["Q_CLUSTER"]["sync"] is True


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_url_it_was_given():
    # CI runs the suite twice; this proves the second run really is on PostgreSQL.
    from django.db import connection

    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    assert connection.vendor == ("postgresql" if on_postgres else "sqlite")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_environment_variable_is_documented(document):
    text = (REPO_ROOT / document).read_text()
    missing = [name for name in ENV_VARS if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"{document} does not mention: {', '.join(missing)}"
