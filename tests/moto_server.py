"""moto's server, with DynamoDB requests applied one at a time.

DynamoDB applies every single-item write atomically: of two racing
conditional writes, one sees the other. moto's threaded server does not
(two racing conditional UpdateItems can both pass), which would make the
acceptance race test measure moto instead of this service. Serialising the
DynamoDB requests restores DynamoDB's guarantee; SQS long polls stay
concurrent. Usage: python tests/moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

dynamodb_lock = threading.Lock()
moto_app = DomainDispatcherApplication(create_backend_app)


def app(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with dynamodb_lock:
            # Consume the response inside the lock: the write happens there.
            return list(moto_app(environ, start_response))
    return moto_app(environ, start_response)


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)
