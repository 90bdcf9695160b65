"""django-q2 cluster configuration: Redis broker when REDIS_URL is set, else the ORM broker."""


def build_q_cluster(redis_url: str, workers: int) -> dict:
    config = {
        "name": "crm",
        "workers": workers,
        # A task is killed after `timeout` seconds and re-queued after `retry`; retry must
        # exceed timeout or a slow task runs twice.
        "timeout": 120,
        "retry": 180,
        "max_attempts": 3,
        "queue_limit": 50,
        "bulk": 10,
        "save_limit": 500,
        "catch_up": False,
        "label": "Task queue",
    }
    if redis_url:
        config["redis"] = redis_url
    else:
        config["orm"] = "default"
    return config
