"""The README's "## Deploy" recipe, run as written, on a fresh release of this source.

The commands are read from the README's code block (so the test fails when the README and
reality drift): its `export` lines give the environment (values shown as `...` get test-only
ones of the same kind), then every command runs through bash in the release directory, in
order: pip (offline and dry: it must find every requirement installed), `check --deploy`,
`collectstatic`, `migrate`, `sync_schedules`, `createsuperuser` (on a terminal, answering its
prompts), then the web and worker commands, which must be the Procfile's, and must serve: a
ready health check, the admin's hashed static files from WhiteNoise, a sign-in of the new
superuser; the worker must run the scheduled dispatcher through Redis. Last, the Procfile's
`release` command must migrate and schedule a fresh database.
"""

import os
import pty
import re
import secrets
import select
import shlex
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from bench import prodstack

pytestmark = pytest.mark.production_stack

README = prodstack.PROJECT_DIR / "README.md"
REDIS_URL = "redis://127.0.0.1:6379/10"  # this test's own Redis database (flushed before and after)
HOST = "crm.example.com"
STEP_TIMEOUT = 300


def recipe(readme: str) -> list[str]:
    """The deploy section's shell block: one string per logical line, comments dropped."""
    section = re.search(r"^## Deploy\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert section, "README.md has no '## Deploy' section"
    block = re.search(r"```(?:sh|bash|shell)\n(.*?)```", section.group(1), re.S)
    assert block, "the Deploy section has no ```sh block"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    return [step for step in (re.sub(r"(^|\s)#.*$", "", line).strip() for line in lines) if step]


def recipe_environment(steps: list[str], database_url: str) -> dict[str, str]:
    """The exports, with test-only values where the README shows `...` (of the same kind)."""
    stand_ins = {"DJANGO_SECRET_KEY": "test-only-" + secrets.token_urlsafe(50), "DATABASE_URL": database_url,
                 "REDIS_URL": REDIS_URL}
    env = {name: value for name, value in os.environ.items() if name not in prodstack.product_variables()}
    env["PATH"] = f"{prodstack.VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # the deploy's Python environment
    for step in steps:
        words = shlex.split(step)
        if words[0] != "export":
            continue
        for assignment in words[1:]:
            name, _, value = assignment.partition("=")
            if "..." in value:
                assert name in stand_ins, f"no test value for {name}={value}"
                assert stand_ins[name].startswith(value.split("...")[0]), (name, value)
                value = stand_ins[name]
            env[name] = value
    return env


def run_step(command: str, release: Path, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=release, env=env, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`{command}` exited {done.returncode}:\n{output[-4000:]}"
    return output


def run_on_terminal(command: str, release: Path, env: dict[str, str], answers: dict[str, str]) -> str:
    """Run `command` on a pseudo-terminal, answering each prompt (the last line, ending in ':')
    with the answer whose key it contains; an unexpected prompt fails the test."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.chdir(release)
        os.execvpe("bash", ["bash", "-c", command], env)
    transcript, answered_at = "", 0
    deadline = time.monotonic() + STEP_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            transcript += chunk.decode(errors="replace")
            prompt = transcript[answered_at:].rsplit("\n", 1)[-1].strip()
            if prompt.endswith(":"):
                matches = [answer for key, answer in answers.items() if key in prompt]
                assert matches, f"unexpected prompt {prompt!r}:\n{transcript}"
                os.write(fd, (matches[0] + "\n").encode())
                answered_at = len(transcript)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, f"`{command}` failed:\n{transcript}"
    return transcript


def _secure_cookies(response: httpx.Response) -> dict[str, str]:
    # Secure cookies are kept by hand: the site is HTTPS behind its proxy, this client speaks HTTP to it.
    return {cookie.name: cookie.value for cookie in response.cookies.jar}


def sign_in(base_url: str, username: str, password: str) -> httpx.Response:
    https = {"Host": HOST, "X-Forwarded-Proto": "https"}
    page = httpx.get(f"{base_url}/admin/login/", headers=https, timeout=30)
    assert page.status_code == 200, page.status_code
    cookies = _secure_cookies(page)
    return httpx.post(
        f"{base_url}/admin/login/?next=/admin/", timeout=30, cookies=cookies,
        data={"username": username, "password": password, "csrfmiddlewaretoken": cookies["csrftoken"],
              "next": "/admin/"},
        headers={**https, "Origin": f"https://{HOST}", "Referer": f"https://{HOST}/admin/login/"})


def database_facts(database_url: str) -> dict:
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        return {
            "groups": {row[0] for row in conn.execute("SELECT name FROM auth_group")},
            "schedules": {row[0] for row in conn.execute("SELECT name FROM django_q_schedule")},
            "superusers": {row[0] for row in conn.execute("SELECT username FROM crm_user WHERE is_superuser")},
        }


def test_the_readme_deploy_recipe_runs_as_written(tmp_path, server_database):
    steps = recipe(README.read_text())
    procfile = prodstack.procfile()
    commands = [step for step in steps if not step.startswith("export ")]
    web, worker = commands[-2:]
    assert (web, worker) == (procfile["web"], procfile["worker"]), "the README's last two commands are the Procfile's"
    for needed in ("check --deploy", "collectstatic", "migrate", "sync_schedules", "createsuperuser"):
        assert any(needed in command for command in commands), f"the recipe has no {needed} step"

    release = prodstack.release_copy(tmp_path / "release")
    database_url = server_database("deploy")
    env = recipe_environment(steps, database_url)
    assert env["DJANGO_SETTINGS_MODULE"] == "settings.production"
    # pip offline and dry: every requirement must already be installed; nothing is changed.
    env_pip = {**env, "PIP_NO_INDEX": "1", "PIP_DRY_RUN": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    prodstack.flush_redis(REDIS_URL)
    password = "Deploy-" + secrets.token_urlsafe(12)
    outputs = {}
    for command in commands[:-2]:
        if "createsuperuser" in command:
            outputs[command] = run_on_terminal(command, release, env, {
                "Username": "operator", "Email": "ops@example.com", "Password": password})
        else:
            outputs[command] = run_step(command, release, env_pip if command.startswith("pip ") else env)

    check = next(out for command, out in outputs.items() if "check --deploy" in command)
    assert "System check identified no issues" in check, check
    assert (release / "staticfiles" / "staticfiles.json").exists(), "collectstatic wrote no manifest"
    run_step("python manage.py migrate --check", release, env)  # exits 1 when a migration is left to apply
    facts = database_facts(database_url)
    assert {"ADMIN", "REP"} <= facts["groups"]
    assert {"sms-dispatch", "sms-reconcile", "hot-leads-sweep"} <= facts["schedules"]
    assert facts["superusers"] == {"operator"}

    port = prodstack.free_port()
    run_env = {**env, "PORT": str(port)}
    log = tmp_path / "worker.log"
    web_process = subprocess.Popen(["bash", "-c", f"exec {web}"], cwd=release, env=run_env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=open(tmp_path / "web.log", "wb"))
    worker_process = subprocess.Popen(["bash", "-c", f"exec {worker}"], cwd=release, env=run_env,
                                      start_new_session=True, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            assert web_process.poll() is None, (tmp_path / "web.log").read_text()[-3000:]
            try:
                return httpx.get(f"{base}/health/ready", headers={"Host": HOST}, timeout=10).status_code == 200
            except httpx.HTTPError:
                return False

        prodstack.wait_until("the web command's /health/ready", ready, timeout=120)
        https = {"Host": HOST, "X-Forwarded-Proto": "https"}  # as the HTTPS proxy in front passes them on
        login = httpx.get(f"{base}/admin/login/", headers=https, timeout=30)
        styles = re.findall(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', login.text)
        assert styles, "the admin's stylesheets are not the hashed names collectstatic wrote"
        served = httpx.get(f"{base}{styles[0]}", headers=https, timeout=30)
        assert served.status_code == 200 and "immutable" in served.headers.get("cache-control", ""), served.headers
        signed_in = sign_in(base, "operator", password)
        assert signed_in.status_code == 302 and signed_in.headers["location"] == "/admin/", signed_in.text[-2000:]

        # The worker runs what sync_schedules planned (the scheduler looks every 30 s), through Redis.
        prodstack.wait_until("the worker running the scheduled dispatcher", lambda: worker_process.poll() is None
                             and b"Processed 'crm.tasks.messaging.dispatch_due_task'" in log.read_bytes(),
                             timeout=150)
    finally:
        for process in (web_process, worker_process):
            prodstack.stop_cluster(process)  # SIGTERM to its process group, then SIGKILL
        prodstack.flush_redis(REDIS_URL)

    # The Procfile's release step, as a platform runs it before each release, on a fresh database.
    fresh_url = server_database("deploy_release")
    run_step(procfile["release"], release, {**env, "DATABASE_URL": fresh_url})
    run_step("python manage.py migrate --check", release, {**env, "DATABASE_URL": fresh_url})
    fresh = database_facts(fresh_url)
    assert {"ADMIN", "REP"} <= fresh["groups"]
    assert fresh["schedules"] == facts["schedules"]
