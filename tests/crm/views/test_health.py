"""/health/live (no I/O) and /health/ready (database and broker) for load balancers."""

import pytest
from django.test import Client


def test_live_answers_without_touching_the_database():
    response = Client().get("/health/live")  # no django_db mark: any query would raise
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ready_is_200_when_database_and_broker_answer_and_503_when_not(settings):
    settings.REDIS_URL = ""
    ready = Client().get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"]["status"] == "ok"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    down = Client().get("/health/ready")
    assert down.status_code == 503 and down.json()["status"] == "fail"
    assert down.json()["checks"]["broker"]["status"] == "fail"
    assert Client().post("/health/ready").status_code == 405
