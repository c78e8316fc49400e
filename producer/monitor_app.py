"""The Celery app Flower runs with (`ragq monitor`): ragq's own settings over the broker URL it is handed in
CELERY_BROKER_URL (the environment, never a command line), TLS options included."""

import os

from ragq.shared.celery_app import make_app
from ragq.shared.config import load_settings

app = make_app(os.environ["CELERY_BROKER_URL"], load_settings().signing)
