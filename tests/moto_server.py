"""moto's server, with DynamoDB requests applied one at a time.

DynamoDB applies every single-item write atomically: of two racing
conditional writes, one sees the other. moto's threaded server does not
(two racing conditional UpdateItems can both pass), which would make the
acceptance race test measure moto instead of this service. Serialising the
DynamoDB requests restores DynamoDB's guarantee; SQS long polls stay
concurrent.

It also answers GET /test-api/sms: every SMS that SNS accepted, oldest
first, as JSON [{"phone_number", "message"}], so the end-to-end tests can
read the sign-in codes the service sent; and GET /test-api/notifications:
those SMS and the mobile pushes published to platform endpoints. (moto's own /moto-api/data.json
has them too, but serialises every stored item with them, which grows slow
as the tests fill the tables.)

Usage: python tests/moto_server.py HOST PORT
"""

import json
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


def recorded_sms(start_response):
    from moto.sns.models import sns_backends

    texts = []
    for regions in list(sns_backends.values()):
        for backend in list(regions.values()):
            for phone_number, message in list(backend.sms_messages.values()):
                texts.append({"phone_number": phone_number, "message": message})
    body = json.dumps(texts).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def recorded_notifications(start_response):
    """Every SMS and every message published to a platform endpoint, oldest
    first, as the local stack's GET /dev/notifications answers:
    {"sms": [{"phone_number", "message"}], "push": [{"endpoint", "message"}]}."""
    from moto.sns.models import sns_backends

    sent = {"sms": [], "push": []}
    for regions in list(sns_backends.values()):
        for backend in list(regions.values()):
            for phone_number, message in list(backend.sms_messages.values()):
                sent["sms"].append({"phone_number": phone_number, "message": message})
            for arn, endpoint in list(backend.platform_endpoints.items()):
                for message in list(endpoint.messages.values()):
                    sent["push"].append({"endpoint": arn, "message": message})
    body = json.dumps(sent).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/test-api/sms" and environ.get("REQUEST_METHOD") == "GET":
        return recorded_sms(start_response)
    if environ.get("PATH_INFO") == "/test-api/notifications" and environ.get("REQUEST_METHOD") == "GET":
        return recorded_notifications(start_response)
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with dynamodb_lock:
            # Consume the response inside the lock: the write happens there.
            return list(moto_app(environ, start_response))
    return moto_app(environ, start_response)


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)
