"""Airflow's ``[core] hostname_callable`` in the stack test (``tests/integration/
test_production_celery.py``): two Celery workers on one machine stand for two machines, so
each reports the host name the test gives it in ``IT_WORKER_HOSTNAME`` (the task instances'
``hostname`` then says which worker ran them); unset, the machine's name as Airflow's default.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("IT_WORKER_HOSTNAME") or socket.getfqdn()
