#!/usr/bin/env python3
"""Proves infra/template.yaml matches the code (run by infra/check.sh).

Checks: one function resource per crate under functions/ and back; every
CodeUri is cargo-lambda's zip of an existing crate; every environment
variable a function reads is set on it; every HTTP route key has a route
(public ones without an authorizer, the others with the JWT authorizer);
every WebSocket route key has a route (with a route response where the
handler answers), and the WebSocket stage deploys itself after all of
them; the timer queue's visibility timeout is at least six times the
consumer's timeout, and every function with an SDK client has at least
twice an AWS call's time limit; the table and queues equal the LocalStack
hook's (and the local stack's default visibility timeout); the table keeps
deletion protection, Retain policies and point-in-time recovery; every
alarm notifies the topic, and the alarms that must exist read the right
namespace, metric and dimensions (dead-letter queue, Lambda errors and
throttles, HTTP API 5xx, WebSocket 5xx from a metric filter on the
stage's access log, the timer queue's oldest-message age past the longest
round window); the WebSocket stage's logging has API Gateway's account
role (optional, retained); the LocalStack image is an exact tag that
starts without an auth token; the HTTP API's JWT authorizer can verify
the tokens the code signs (its documented constraints, checked on the
JWKS and OpenID configuration the code publishes, from
`cargo run -p ops -- print-jwks`); the signing secret is readable by the
HTTP function only, with GetSecretValue on that secret only; mobile
pushes reach only the PushPlatformApplicationArn application; receipt
links fall back to the HTTP API's URL; SparseRadiiM's pattern admits only
counts and ranges the code accepts.
Needs PyYAML, and cargo for the JWKS.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
LOCALSTACK_HOOK = ROOT / "localstack" / "init" / "ready.d" / "10-create-resources.sh"
LOCALSTACK_COMPOSE = ROOT / "localstack" / "docker-compose.yml"
# The first LocalStack release that refuses to start without an auth token.
LOCALSTACK_FIRST_NEEDING_TOKEN = (4, 15, 0)

# Variables each function reads, by the code path it runs. The union is
# checked against every std::env::var("...") in shared/src and functions/,
# so a new variable fails here until it is listed (and set in the template).
#   AwsResources::from_env (shared/src/aws/mod.rs) via wiring::serve -> wiring::lambda_app:
AWS_RESOURCES = {"TABLE_NAME", "TIMER_QUEUE_URL", "WS_MANAGEMENT_ENDPOINT"}
#   OrderingConfig::from_env (shared/src/domain/config.rs), all optional;
#   OFFER_WINDOW_MS is the tests' finer alternative to OFFER_WINDOW_SECONDS.
ORDERING_CONFIG = {
    "OFFER_WINDOW_SECONDS",
    "STORES_PER_ROUND",
    "MAX_ROUNDS",
    "MATCH_RADIUS_M",
    "MAX_OPEN_ORDERS",
    "MAX_ORDERS_PER_MINUTE",
    "PUSH_OFFLINE_STORES",
    "PUSH_OFFER_WINDOW_SECONDS",
    "SPARSE_RADII_M",
}
#   wiring::lambda_app: where pushes register (PUSH_PLATFORM_APPLICATION_ARN,
#   empty: none) and NotificationConfig's TRACKING_BASE_URL (receipt links).
NOTIFICATIONS = {"PUSH_PLATFORM_APPLICATION_ARN", "TRACKING_BASE_URL"}
#   NO_INIT_PRIMING (wiring::prime) switches init priming off, for infra/coldstart.sh.
#   JWT_KEY_REFRESH_SECONDS (default 300) and JWT_JWKS_URL (default
#   {JWT_ISSUER}/.well-known/jwks.json): wiring's key refresh and JWKS URL;
#   SMS_SENDER_ID: an optional SMS sender name.
#   AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_LOG_FORMAT (set by Lambda's logging
#   controls) and RUST_LOG: wiring::init_logging's level and format.
OPTIONAL_NOT_SET = {"OFFER_WINDOW_MS", "PUSH_OFFER_WINDOW_MS", "MAX_GEO_QUERIES", "NO_INIT_PRIMING", "JWT_KEY_REFRESH_SECONDS", "JWT_JWKS_URL", "SMS_SENDER_ID", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_FORMAT", "RUST_LOG"}
#   WEB_SOCKET_URL (api/web.rs): where the served web apps connect; the local stack leaves it unset.
#   wiring::serve -> wiring::lambda_app: JWT_SIGNING_SECRET_ID (only where tokens are issued) and then JWT_ISSUER;
#   wiring::token_verifier: JWT_ISSUER (the JWKS is fetched from its URL).
REQUIRED_ENV = {
    "http-api": AWS_RESOURCES | ORDERING_CONFIG | NOTIFICATIONS | {"JWT_SIGNING_SECRET_ID", "JWT_ISSUER", "WEB_SOCKET_URL"},
    "ws-api": AWS_RESOURCES | ORDERING_CONFIG | NOTIFICATIONS,
    "offer-timer": AWS_RESOURCES | ORDERING_CONFIG | NOTIFICATIONS,
    "ws-authorizer": {"JWT_ISSUER"},
}
# The only function that may read the signing secret.
SECRET_READERS = {"http-api"}
# Which wiring entry point each crate's main calls, to keep the table above honest.
ENTRY_POINT = {
    "http-api": "shared::wiring::serve",
    "ws-api": "shared::wiring::serve",
    "offer-timer": "shared::wiring::serve",
    "ws-authorizer": "shared::wiring::token_verifier",
}

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


class CfnLoader(yaml.SafeLoader):
    """Accepts CloudFormation's short intrinsic tags (!Ref, !Sub, ...)."""


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def rust_str_array(path, name):
    text = (ROOT / path).read_text()
    m = re.search(rf"pub const {name}: &\[&str\] = &\[(.*?)\];", text, re.S)
    if not m:
        sys.exit(f"{name} not found in {path}")
    return re.findall(r'"([^"]*)"', m.group(1))


def rust_http_routes():
    """The route table of shared/src/api/routes.rs: every route key, and the public ones."""
    text = (ROOT / "shared/src/api/routes.rs").read_text()
    table = re.search(r"^http_routes! \{(.*?)^\}", text, re.S | re.M)
    if not table:
        sys.exit("the http_routes! table was not found in shared/src/api/routes.rs")
    rows = re.findall(r'^\s*\w+ => "([A-Z]+ [^"]+)"(, public)?;', table.group(1), re.M)
    return [key for key, _ in rows], [key for key, public in rows if public]


def sub_text(value):
    """The string behind a literal, !Sub or !Ref (for comparisons)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"]
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    return str(value)


def main():
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    globals_fn = template.get("Globals", {}).get("Function", {})

    def of_type(kind):
        return {k: v for k, v in resources.items() if v["Type"] == kind}

    # --- functions and their code -------------------------------------
    crates = sorted(p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml"))
    functions = of_type("AWS::Serverless::Function")
    by_crate = {}
    for logical_id, res in functions.items():
        props = {**globals_fn, **res["Properties"]}
        uri = props.get("CodeUri", "")
        m = re.fullmatch(r"\.\./target/lambda/([^/]+)/bootstrap\.zip", str(uri))
        check(m is not None, f"{logical_id}: CodeUri {uri!r} is not ../target/lambda/<crate>/bootstrap.zip")
        if not m:
            continue
        crate = m.group(1)
        check(crate in crates, f"{logical_id}: CodeUri names {crate}, which is not a crate under functions/")
        check(crate not in by_crate, f"{crate} has two function resources")
        by_crate[crate] = (logical_id, props)
        check(props.get("Runtime") == "provided.al2023", f"{logical_id}: Runtime must be provided.al2023")
        check(props.get("Architectures") == ["arm64"], f"{logical_id}: Architectures must be [arm64]")
        check(props.get("Handler") == "bootstrap", f"{logical_id}: Handler must be bootstrap")
        log_group = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        check(
            log_group in resources and "RetentionInDays" in resources[log_group]["Properties"],
            f"{logical_id}: needs a log group with retention",
        )
    for crate in crates:
        check(crate in by_crate, f"functions/{crate} has no AWS::Serverless::Function in the template")
        name = (ROOT / "functions" / crate / "Cargo.toml").read_text()
        check(f'name = "{crate}"' in name, f"functions/{crate}: package name differs from the folder (cargo-lambda names the zip after the binary)")

    # --- environment -----------------------------------------------------
    read_in_code = set()
    for folder in ("shared/src", "functions"):
        for rs in (ROOT / folder).rglob("*.rs"):
            text = rs.read_text()
            read_in_code |= set(re.findall(r'(?:env::var|var)\("([A-Z][A-Z0-9_]*)"\)', text))
            read_in_code |= set(re.findall(r'lookup\("([A-Z][A-Z0-9_]*)"\)', text))
    listed = set().union(*REQUIRED_ENV.values()) | OPTIONAL_NOT_SET
    check(
        read_in_code <= listed,
        f"variables read in the code but not in check_template.py's list: {sorted(read_in_code - listed)}",
    )
    check(
        listed <= read_in_code,
        f"variables listed in check_template.py but no longer read: {sorted(listed - read_in_code)}",
    )
    for crate, wanted in REQUIRED_ENV.items():
        main_rs = (ROOT / "functions" / crate / "src" / "main.rs").read_text()
        check(ENTRY_POINT[crate] in main_rs, f"functions/{crate} no longer calls {ENTRY_POINT[crate]}: update REQUIRED_ENV")
        if crate not in by_crate:
            continue
        logical_id, props = by_crate[crate]
        env = set(props.get("Environment", {}).get("Variables", {}))
        env |= set(globals_fn.get("Environment", {}).get("Variables", {}))
        check(wanted <= env, f"{logical_id} ({crate}) does not set {sorted(wanted - env)}")

    # --- HTTP API ----------------------------------------------------------
    routes = of_type("AWS::ApiGatewayV2::Route")
    apis = of_type("AWS::ApiGatewayV2::Api")
    http_api = [k for k, v in apis.items() if v["Properties"]["ProtocolType"] == "HTTP"]
    ws_api = [k for k, v in apis.items() if v["Properties"]["ProtocolType"] == "WEBSOCKET"]
    check(len(http_api) == 1 and len(ws_api) == 1, "expected one HTTP and one WebSocket API")
    if failures:
        return
    http_api, ws_api = http_api[0], ws_api[0]

    def routes_of(api):
        return {v["Properties"]["RouteKey"]: (k, v["Properties"]) for k, v in routes.items() if v["Properties"]["ApiId"] == {"Ref": api}}

    http_routes = routes_of(http_api)
    code_http, public = rust_http_routes()
    check(set(http_routes) == set(code_http), f"HTTP routes differ: template only {sorted(set(http_routes) - set(code_http))}, code only {sorted(set(code_http) - set(http_routes))}")
    jwt_authorizers = [k for k, v in of_type("AWS::ApiGatewayV2::Authorizer").items() if v["Properties"]["AuthorizerType"] == "JWT"]
    for key, (logical_id, props) in http_routes.items():
        if key in public:
            check(props.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in props, f"{logical_id}: public route {key} must have no authorizer")
        else:
            check(
                props.get("AuthorizationType") == "JWT" and props.get("AuthorizerId", {}).get("Ref") in jwt_authorizers,
                f"{logical_id}: {key} must use the JWT authorizer",
            )
    for logical_id in jwt_authorizers:
        jwt = resources[logical_id]["Properties"]["JwtConfiguration"]
        issuer_env = by_crate["http-api"][1]["Environment"]["Variables"]["JWT_ISSUER"]
        check(sub_text(jwt["Issuer"]) == sub_text(issuer_env), f"{logical_id}: issuer differs from http-api's JWT_ISSUER")
        auth_rs = (ROOT / "shared/src/auth.rs").read_text()
        audience = re.search(r'pub const AUDIENCE: &str = "([^"]+)"', auth_rs).group(1)
        check(jwt["Audience"] == [audience], f"{logical_id}: audience must be [{audience}]")
    authorizer_issuer = by_crate.get("ws-authorizer", (None, {}))[1].get("Environment", {}).get("Variables", {}).get("JWT_ISSUER")
    check(sub_text(authorizer_issuer) == sub_text(by_crate["http-api"][1]["Environment"]["Variables"]["JWT_ISSUER"]), "ws-authorizer's JWT_ISSUER differs from http-api's")
    check(len(jwt_authorizers) == 1, "expected one JWT authorizer")
    if jwt_authorizers:
        check_jwt_authorizer(resources[jwt_authorizers[0]]["Properties"], by_crate)
    check_secret_access(template, by_crate)
    check_push_access(template, by_crate)

    # --- WebSocket API -----------------------------------------------------
    ws_props = apis[ws_api]["Properties"]
    check(ws_props.get("RouteSelectionExpression") == "$request.body.action", "WebSocket route selection must be $request.body.action")
    ws_routes = routes_of(ws_api)
    code_ws = rust_str_array("shared/src/api/ws.rs", "WS_ROUTES")
    with_response = rust_str_array("shared/src/api/ws.rs", "WS_ROUTES_WITH_RESPONSE")
    check(set(ws_routes) == set(code_ws), f"WebSocket routes differ: template only {sorted(set(ws_routes) - set(code_ws))}, code only {sorted(set(code_ws) - set(ws_routes))}")
    route_responses = {v["Properties"]["RouteId"]["Ref"]: v["Properties"]["RouteResponseKey"] for v in of_type("AWS::ApiGatewayV2::RouteResponse").values()}
    for key, (logical_id, props) in ws_routes.items():
        if key in with_response:
            check(route_responses.get(logical_id) == "$default" and props.get("RouteResponseSelectionExpression") == "$default", f"{logical_id}: {key} needs a $default route response")
        else:
            check(logical_id not in route_responses, f"{logical_id}: {key} must not have a route response")
        if key == "$connect":
            authorizer = resources.get(props.get("AuthorizerId", {}).get("Ref"), {}).get("Properties", {})
            check(props.get("AuthorizationType") == "CUSTOM" and authorizer.get("AuthorizerType") == "REQUEST", "$connect must use the Lambda REQUEST authorizer")
            check(authorizer.get("IdentitySource") == ["route.request.querystring.token"], "$connect authorizer identity must be route.request.querystring.token")
            check(by_crate["ws-authorizer"][0] in sub_text(authorizer.get("AuthorizerUri")), "$connect authorizer must call the ws-authorizer function")
        else:
            check(props.get("AuthorizationType", "NONE") == "NONE", f"{logical_id}: only $connect has an authorizer")
    # Every change to a WebSocket route, integration or authorizer needs a
    # new deployment. An AWS::ApiGatewayV2::Deployment is made once (a new
    # one only when its logical id changes), so the stage deploys itself
    # (AutoDeploy, which excludes a DeploymentId), created after every route
    # and route response so that its first deployment has them all.
    check(
        not [v for v in of_type("AWS::ApiGatewayV2::Deployment").values() if v["Properties"]["ApiId"] == {"Ref": ws_api}],
        "the WebSocket stage deploys itself (AutoDeploy): an AWS::ApiGatewayV2::Deployment would pin it to one snapshot",
    )
    ws_stage_resource = next((v for v in of_type("AWS::ApiGatewayV2::Stage").values() if v["Properties"]["ApiId"] == {"Ref": ws_api}), {"Properties": {}})
    check(
        ws_stage_resource["Properties"].get("AutoDeploy") is True and "DeploymentId" not in ws_stage_resource["Properties"],
        "the WebSocket stage needs AutoDeploy: true and no DeploymentId, or route changes are never deployed",
    )
    needed = {k for k, _ in ws_routes.values()} | {k for k, v in resources.items() if v["Type"] == "AWS::ApiGatewayV2::RouteResponse" and v["Properties"]["ApiId"] == {"Ref": ws_api}}
    missing = sorted(needed - set(ws_stage_resource.get("DependsOn", [])))
    check(not missing, f"the WebSocket stage must depend on {missing}")
    for api in (http_api, ws_api):
        stages = [v["Properties"] for v in of_type("AWS::ApiGatewayV2::Stage").values() if v["Properties"]["ApiId"] == {"Ref": api}]
        check(len(stages) == 1, f"{api} needs one stage")
        for stage in stages:
            settings = stage.get("DefaultRouteSettings", {})
            check("ThrottlingRateLimit" in settings and "ThrottlingBurstLimit" in settings, f"{api}: stage throttling missing")

    # --- API Gateway's account-level logging role ---------------------------
    # A WebSocket stage with access logging cannot be created until the
    # account has a CloudWatch Logs role set; the template sets one (unless
    # told the account has it) and keeps it when the stack goes away.
    ws_stage_id, ws_stage = next(((k, v) for k, v in of_type("AWS::ApiGatewayV2::Stage").items() if v["Properties"]["ApiId"] == {"Ref": ws_api}), (None, {"Properties": {}}))
    if "AccessLogSettings" in ws_stage["Properties"]:
        accounts = of_type("AWS::ApiGateway::Account")
        check(len(accounts) == 1, "the WebSocket stage logs, so the template must set API Gateway's account CloudWatch role (AWS::ApiGateway::Account)")
        for account_id, account in accounts.items():
            role_id = account["Properties"].get("CloudWatchRoleArn", {}).get("Fn::GetAtt", [None])[0]
            role = resources.get(role_id, {})
            trust = role.get("Properties", {}).get("AssumeRolePolicyDocument", {}).get("Statement", [])
            check(
                any(st.get("Principal", {}).get("Service") == "apigateway.amazonaws.com" for st in trust)
                and any("AmazonAPIGatewayPushToCloudWatchLogs" in sub_text(a) for a in role.get("Properties", {}).get("ManagedPolicyArns", [])),
                f"{account_id}: its role must be assumable by apigateway.amazonaws.com with AmazonAPIGatewayPushToCloudWatchLogs",
            )
            for rid in (account_id, role_id):
                check(resources.get(rid, {}).get("DeletionPolicy") == "Retain", f"{rid}: account-wide, so DeletionPolicy must be Retain")
            condition = account.get("Condition")
            check(
                condition is not None and resources.get(role_id, {}).get("Condition") == condition,
                f"{account_id}: must be optional (a parameter's condition, on the role too): the setting is account-wide",
            )
            check(
                account_id in repr(ws_stage["Properties"]) or account_id in ws_stage.get("DependsOn", []),
                f"{ws_stage_id} must wait for {account_id} (reference it under Fn::If)",
            )

    # --- timer queue, consumer, table vs LocalStack --------------------------
    queues = of_type("AWS::SQS::Queue")
    mappings = of_type("AWS::Lambda::EventSourceMapping")
    check(len(mappings) == 1, "expected one SQS event source mapping")
    if failures:
        return
    mapping = next(iter(mappings.values()))["Properties"]
    queue_id = mapping["EventSourceArn"]["Fn::GetAtt"][0]
    consumer_id = mapping["FunctionName"]["Ref"]
    check(consumer_id == by_crate["offer-timer"][0], "the timer queue must trigger offer-timer")
    check(mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "the event source needs ReportBatchItemFailures")
    queue = queues[queue_id]["Properties"]
    consumer_timeout = {**globals_fn, **resources[consumer_id]["Properties"]}["Timeout"]
    # AWS: a queue that triggers Lambda needs a visibility timeout of at least
    # six times the function's timeout (Lambda developer guide, "Creating and
    # configuring an Amazon SQS event source mapping"). Both numbers are read
    # from the template, so neither can drift past the other.
    check(
        int(queue["VisibilityTimeout"]) >= 6 * int(consumer_timeout),
        f"timer queue visibility timeout {queue['VisibilityTimeout']} s must be at least 6 x offer-timer's Timeout {consumer_timeout} s",
    )
    # Each AWS call gives up after Timeouts::LAMBDA's operation limit, meant
    # as at most half a function's budget (shared/src/aws/mod.rs), so a
    # stuck call fails its request or timer instead of the function being
    # killed: every function with an SDK client needs a Timeout of at least
    # twice that.
    aws_mod = (ROOT / "shared/src/aws/mod.rs").read_text()
    lambda_timeouts = re.search(r"pub const LAMBDA: Timeouts = Timeouts \{(.*?)\};", aws_mod, re.S)
    operation = re.search(r"operation: Duration::from_secs\((\d+)\)", lambda_timeouts.group(1)) if lambda_timeouts else None
    check(operation is not None, "shared/src/aws/mod.rs: Timeouts::LAMBDA's operation limit not found")
    if operation is not None:
        for crate in ("http-api", "ws-api", "offer-timer"):
            if crate in by_crate:
                logical_id, props = by_crate[crate]
                check(
                    int(props["Timeout"]) >= 2 * int(operation.group(1)),
                    f"{logical_id}: Timeout {props['Timeout']} s is under twice an AWS call's limit ({operation.group(1)} s, Timeouts::LAMBDA)",
                )
    local_visibility = re.search(r"visibility_timeout: Duration::from_secs\((\d+)\)", (ROOT / "local/src/lib.rs").read_text())
    check(
        local_visibility is not None and int(local_visibility.group(1)) == int(queue["VisibilityTimeout"]),
        f"the local stack's default visibility timeout (local/src/lib.rs) must equal the template's {queue['VisibilityTimeout']} s",
    )
    redrive = queue["RedrivePolicy"]
    dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    check(dlq_id in queues, "the redrive target must be a queue of this template")

    hook = parse_localstack_hook()
    table_id, table_res = next(iter(of_type("AWS::DynamoDB::Table").items()))
    table = table_res["Properties"]
    check(len(of_type("AWS::DynamoDB::Table")) == 1, "expected one table")
    # The table holds every order and store: it survives a stack delete or a
    # replacement, and refuses DeleteTable until protection is switched off.
    check(table_res.get("DeletionPolicy") == "Retain", f"{table_id}: DeletionPolicy must be Retain")
    check(table_res.get("UpdateReplacePolicy") == "Retain", f"{table_id}: UpdateReplacePolicy must be Retain")
    check(table.get("DeletionProtectionEnabled") is True, f"{table_id}: DeletionProtectionEnabled must be true")
    check(
        table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True,
        f"{table_id}: point-in-time recovery must be on",
    )
    template_table = {
        "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]),
        "keys": [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]],
        "billing": table["BillingMode"],
        "ttl": table["TimeToLiveSpecification"]["AttributeName"] if table["TimeToLiveSpecification"]["Enabled"] else None,
        "indexes": len(table.get("GlobalSecondaryIndexes", [])) + len(table.get("LocalSecondaryIndexes", [])),
    }
    check(template_table == hook["table"], f"table differs from LocalStack's: template {template_table}, localstack {hook['table']}")
    template_queue = {
        "visibility": int(queue["VisibilityTimeout"]),
        "max_receive": int(redrive["maxReceiveCount"]),
        "fifo": bool(queue.get("FifoQueue", False)),
        "dlq_suffix": sub_text(queues[dlq_id]["Properties"].get("QueueName")).removeprefix(sub_text(queue.get("QueueName"))),
    }
    check(template_queue == hook["queue"], f"timer queue differs from LocalStack's: template {template_queue}, localstack {hook['queue']}")

    # --- alarms and outputs ------------------------------------------------------
    # Each alarm must read the right metric: namespace, name and exactly the
    # dimensions AWS publishes it with (a wrong or missing dimension makes an
    # alarm that never fires). Plain alarms and metric-math alarms alike.
    alarms = {k: v["Properties"] for k, v in of_type("AWS::CloudWatch::Alarm").items()}
    topics = set(of_type("AWS::SNS::Topic"))

    def watched(props):
        if "MetricName" in props:
            yield props.get("Namespace"), props["MetricName"], {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric")
            if metric:
                yield metric.get("Namespace"), metric["MetricName"], {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}

    def alarms_on(namespace, metric, dimensions):
        return [k for k, a in alarms.items() if (namespace, metric, dimensions) in list(watched(a))]

    def stage_name(api):
        return next((v["Properties"]["StageName"] for v in of_type("AWS::ApiGatewayV2::Stage").values() if v["Properties"]["ApiId"] == {"Ref": api}), None)

    for logical_id, props in alarms.items():
        actions = [a.get("Ref") for a in props.get("AlarmActions", []) if isinstance(a, dict)]
        check(any(a in topics for a in actions), f"{logical_id}: must notify the alarm topic")
    check(
        alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": {"Fn::GetAtt": [dlq_id, "QueueName"]}}),
        "no alarm on the dead-letter queue (AWS/SQS ApproximateNumberOfMessagesVisible, QueueName)",
    )
    for logical_id, _ in by_crate.values():
        for metric in ("Errors", "Throttles"):
            check(alarms_on("AWS/Lambda", metric, {"FunctionName": {"Ref": logical_id}}), f"no {metric} alarm for {logical_id}")
    # HTTP APIs publish `5xx` (not REST's 5XXError) in AWS/ApiGateway by
    # ApiId and Stage.
    check(
        alarms_on("AWS/ApiGateway", "5xx", {"ApiId": {"Ref": http_api}, "Stage": stage_name(http_api)}),
        "no HTTP API 5xx alarm (AWS/ApiGateway 5xx, dimensions ApiId and Stage)",
    )
    # WebSocket APIs publish no 5xx metric, and their `IntegrationError`
    # counts the integration's 4xx too: ws-api refuses an inactive store's
    # $connect with 403 (ConnectError::StoreNotActive) and its app keeps
    # reconnecting, so an alarm there fires on every suspension. The 5xx
    # come from the stage's access log instead: a metric filter on that log
    # group matching a 5xx status, and an alarm on the filter's metric.
    check(
        not alarms_on("AWS/ApiGateway", "IntegrationError", {"ApiId": {"Ref": ws_api}, "Stage": stage_name(ws_api)}),
        "an alarm on the WebSocket API's IntegrationError fires on every refused $connect of a suspended store (403): alarm on its 5xx instead",
    )
    error_rs = (ROOT / "shared/src/api/error.rs").read_text()
    connect_refusal = re.search(r"ConnectError::StoreNotActive => not_active\(\)", error_rs)
    not_active_403 = re.search(r"fn not_active\(\) -> ApiError \{\s*ApiError::new\(\s*403", error_rs)
    check(
        connect_refusal is not None and not_active_403 is not None,
        "shared/src/api/error.rs no longer refuses an inactive store's $connect with 403: revisit the WebSocket 5xx alarm's reasoning",
    )
    access_log = ws_stage_resource["Properties"].get("AccessLogSettings", {})
    log_group_id = access_log.get("DestinationArn", {}).get("Fn::GetAtt", [None])[0]
    check(
        '"status":"$context.status"' in str(access_log.get("Format", "")),
        'the WebSocket stage\'s access log format must write "status":"$context.status" (the 5xx metric filter reads it)',
    )
    ws_5xx_filters = [
        (k, v["Properties"]) for k, v in of_type("AWS::Logs::MetricFilter").items()
        if log_group_id is not None
        and v["Properties"].get("LogGroupName") == {"Ref": log_group_id}
        and re.sub(r"\s", "", str(v["Properties"].get("FilterPattern", ""))) == '{$.status="5*"}'
    ]
    check(
        len(ws_5xx_filters) == 1,
        'expected one metric filter { $.status = "5*" } on the WebSocket stage\'s access log group',
    )
    for filter_id, props in ws_5xx_filters:
        for transformation in props.get("MetricTransformations", []):
            check(
                str(transformation.get("MetricValue")) == "1" and not transformation.get("Dimensions"),
                f"{filter_id}: must count each 5xx line as 1, without dimensions",
            )
            alarmed = alarms_on(transformation.get("MetricNamespace"), transformation.get("MetricName"), {})
            check(
                len(alarmed) >= 1 and all(alarms[a].get("ComparisonOperator") == "GreaterThanThreshold" and alarms[a].get("Statistic") == "Sum" for a in alarmed),
                f"no alarm on {filter_id}'s metric (its namespace and name, no dimensions, Sum above a threshold)",
            )
        check(props.get("MetricTransformations"), f"{filter_id}: needs a metric transformation")
    # The journey's figures come from the functions' EMF lines (no
    # dimensions: the city), in the namespace shared/src/aws/emf.rs writes.
    emf = (ROOT / "shared/src/aws/emf.rs").read_text()
    namespace = re.search(r'pub const NAMESPACE: &str = "([^"]+)";', emf)
    check(namespace is not None, "shared/src/aws/emf.rs names no NAMESPACE")
    if namespace:
        check(
            alarms_on(namespace.group(1), "OrdersUnfulfilled", {}),
            f"no alarm on the city's unfulfilled orders ({namespace.group(1)} OrdersUnfulfilled, no dimensions)",
        )
    # The timer queue's oldest message: a timer is sent with DelaySeconds =
    # its round's window, which is the offer window, or with push alerts on
    # (PushOfflineStores), the longer of that and the push window for a
    # round that alerted a store by push (OrderingConfig::round_window_ms).
    # The alarm watches the age minus the longest window a timer can have
    # (metric math, under a condition on PushOfflineStores), and must fire
    # well before an order's whole search (window x rounds) has passed, and
    # before a failed timer's retry (the visibility timeout) comes round.
    config_rs = (ROOT / "shared/src/domain/config.rs").read_text()
    check(
        "Some(push) if alerted_by_push => push.max(self.offer_window_ms)" in config_rs,
        "OrderingConfig::round_window_ms no longer makes a push round last the longer window: revisit TimerQueueOverdueAlarm",
    )
    overdue = alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": {"Fn::GetAtt": [queue_id, "QueueName"]}})
    check(len(overdue) == 1, "expected one alarm on the timer queue's ApproximateAgeOfOldestMessage (AWS/SQS, QueueName)")
    if len(overdue) == 1:
        props = alarms[overdue[0]]
        params = template["Parameters"]
        offer_window = int(params["OfferWindowSeconds"]["Default"])
        push_window = int(params["PushOfferWindowSeconds"]["Default"])
        push_on = params["PushOfflineStores"]["Default"] == "true"
        window = max(offer_window, push_window) if push_on else offer_window
        rounds = int(params["MaxRounds"]["Default"])
        age_ids = [q["Id"] for q in props.get("Metrics", []) if "MetricStat" in q]
        returned = [q for q in props.get("Metrics", []) if q.get("ReturnData", True)]
        age = age_ids[0] if len(age_ids) == 1 else None
        expression = returned[0].get("Expression") if len(returned) == 1 else None
        branches = expression.get("Fn::If") if isinstance(expression, dict) else None
        condition = template.get("Conditions", {}).get(branches[0]) if branches else None

        def text(value):
            return sub_text(value).replace(" ", "")

        longest = "(${OfferWindowSeconds}+(${PushOfferWindowSeconds}-${OfferWindowSeconds})*(${PushOfferWindowSeconds}>${OfferWindowSeconds}))"
        check(
            age is not None
            and branches is not None
            and condition == {"Fn::Equals": [{"Ref": "PushOfflineStores"}, "true"]}
            and text(branches[1]) == f"{age}-{longest}"
            and text(branches[2]) == f"{age}-${{OfferWindowSeconds}}",
            f"{overdue[0]}: must alarm on the age minus the longest round window (metric math): "
            f"with PushOfflineStores \"true\", {age}-{longest} (the longer window); otherwise {age}-${{OfferWindowSeconds}}",
        )
        threshold = float(props["Threshold"])
        check(props.get("ComparisonOperator") == "GreaterThanThreshold", f"{overdue[0]}: must fire above its threshold")
        check(
            window + threshold <= window * rounds / 2,
            f"{overdue[0]}: an age of window + threshold ({window + threshold:g} s) must be at most half of window x rounds ({window * rounds} s)",
        )
        check(
            threshold < int(queue["VisibilityTimeout"]),
            f"{overdue[0]}: threshold {threshold:g} s must be below the visibility timeout, so a failed timer's retry raises it",
        )
    outputs = template.get("Outputs", {})
    check({"HttpApiUrl", "WebSocketUrl"} <= set(outputs), "outputs must include HttpApiUrl and WebSocketUrl")
    check_tracking_base_url(template, by_crate)
    check_sparse_radii_pattern(template)


def check_tracking_base_url(template, by_crate):
    """Receipt links: the code refuses a TRACKING_BASE_URL that is set but
    not an http(s) address (an empty one too) and, unset, links to a
    placeholder, so every function gets the parameter when it is given and
    the HTTP API's own URL (the HttpApiUrl output) when it is left empty."""
    config_rs = (ROOT / "shared/src/domain/config.rs").read_text()
    check(
        'if let Some(v) = lookup("TRACKING_BASE_URL")' in config_rs and 'v.starts_with("https://")' in config_rs,
        "NotificationConfig no longer refuses an empty TRACKING_BASE_URL: revisit the template's fallback",
    )
    param = template.get("Parameters", {}).get("TrackingBaseUrl", {})
    conditions = template.get("Conditions", {})
    api_url = template.get("Outputs", {}).get("HttpApiUrl", {}).get("Value")
    for crate, (logical_id, props) in by_crate.items():
        value = props.get("Environment", {}).get("Variables", {}).get("TRACKING_BASE_URL")
        if value is None:
            continue
        branches = value.get("Fn::If") if isinstance(value, dict) else None
        check(
            branches is not None
            and conditions.get(branches[0]) == {"Fn::Not": [{"Fn::Equals": [{"Ref": "TrackingBaseUrl"}, ""]}]}
            and branches[1] == {"Ref": "TrackingBaseUrl"}
            and api_url is not None
            and sub_text(branches[2]) == sub_text(api_url),
            f"{logical_id}: TRACKING_BASE_URL must be TrackingBaseUrl when given and the HttpApiUrl output's URL when empty",
        )
    check(
        param.get("Default", "") == "" or str(param.get("Default")).startswith("https://") and "example." not in str(param.get("Default")),
        "TrackingBaseUrl's default must be empty (the HTTP API's URL), not a placeholder address",
    )


def check_sparse_radii_pattern(template):
    """SparseRadiiM's pattern admits only lists OrderingConfig::from_lookup
    could accept as to count and range (at most RadiusSteps::MAX whole
    numbers, each within the bounds it parses them with); order and
    "above MatchRadiusM" are beyond a pattern and left to its Description."""
    config_rs = (ROOT / "shared/src/domain/config.rs").read_text()
    bounds = re.search(r'parse::<u32>\("SPARSE_RADII_M", step, (\d[\d_]*), (\d[\d_]*)\)', config_rs)
    most = re.search(r"pub const MAX: usize = (\d+);", config_rs)
    check(bounds is not None and most is not None, "shared/src/domain/config.rs: SPARSE_RADII_M's bounds or RadiusSteps::MAX not found")
    if bounds is None or most is None:
        return
    low, high, most = int(bounds.group(1).replace("_", "")), int(bounds.group(2).replace("_", "")), int(most.group(1))
    pattern = re.compile(str(template["Parameters"]["SparseRadiiM"].get("AllowedPattern", "")))
    admitted = ["", str(low), str(high), ",".join(str(low + i) for i in range(most))]
    refused = [str(low - 1), str(high + 1), ",".join(str(low + i) for i in range(most + 1))]
    for value in admitted:
        check(pattern.fullmatch(value) is not None, f"SparseRadiiM's AllowedPattern refuses {value!r}, which the code accepts")
    for value in refused:
        check(pattern.fullmatch(value) is None, f"SparseRadiiM's AllowedPattern admits {value!r}, which the code refuses at start-up")


def check_localstack_image():
    """The compose file pins an exact LocalStack tag that runs without an auth token."""
    text = LOCALSTACK_COMPOSE.read_text()
    images = re.findall(r"^\s*image:\s*[\"']?localstack/localstack(?::([^\s\"'@]+))?", text, re.M)
    check(len(images) == 1, f"{LOCALSTACK_COMPOSE.relative_to(ROOT)}: expected one localstack/localstack image")
    for tag in images:
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", tag or "")
        check(m is not None, f"LocalStack image tag {tag or '(none, i.e. latest)'!r} must be an exact version like 4.14.0, not latest or a moving tag")
        # 4.15 and the calendar versions after it (2026.03.0, ...) need LOCALSTACK_AUTH_TOKEN.
        if m:
            check(tuple(map(int, m.groups())) < LOCALSTACK_FIRST_NEEDING_TOKEN, f"LocalStack {tag} needs an auth token (from 4.15 on); pin 4.14.0 or earlier")


def published_keys():
    """The OpenID configuration and JWKS the HTTP function publishes, made
    by the code itself (`ops print-jwks`, the real handlers, a fresh key)."""
    issuer = "https://api-id.execute-api.region.amazonaws.com/stage"
    if os.environ.get("PUBLISHED_JWKS_JSON"):
        # A file with the same shape, to test this check itself.
        return issuer, json.loads(Path(os.environ["PUBLISHED_JWKS_JSON"]).read_text())
    out = subprocess.run(
        ["cargo", "run", "--quiet", "--locked", "-p", "ops", "--", "print-jwks", "--issuer", issuer],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f"cargo run -p ops -- print-jwks failed:\n{out.stderr}")
    return issuer, json.loads(out.stdout)


def check_jwt_authorizer(props, by_crate):
    """API Gateway's JWT authorizer (HTTP APIs), as documented: it reads
    the issuer's OpenID configuration, takes the keys from its jwks_uri,
    and verifies only RSA-based algorithms; the token's kid must name a
    key; iss must equal the configured issuer and aud one of the audiences."""
    jwt = props["JwtConfiguration"]
    check(props.get("IdentitySource") == ["$request.header.Authorization"], "the JWT authorizer must read the Authorization header")
    issuer_env = by_crate["http-api"][1]["Environment"]["Variables"]["JWT_ISSUER"]
    check(sub_text(jwt["Issuer"]) == sub_text(issuer_env), "JWT authorizer: Issuer differs from the JWT_ISSUER the functions sign with")
    check(str(sub_text(jwt["Issuer"])).startswith("https://"), "JWT authorizer: the issuer must be an https URL (API Gateway fetches its discovery document)")
    auth_rs = (ROOT / "shared/src/auth.rs").read_text()
    audience = re.search(r'pub const AUDIENCE: &str = "([^"]+)"', auth_rs).group(1)
    check(jwt.get("Audience") == [audience], f"JWT authorizer: Audience must be [{audience}] (shared::auth::AUDIENCE)")

    issuer, published = published_keys()
    config = published.get("openid_configuration", {})
    check(config.get("issuer") == issuer, f"openid-configuration: issuer {config.get('issuer')!r} is not the issuer URL {issuer!r}")
    check(str(config.get("jwks_uri", "")).startswith(issuer.rstrip("/") + "/"), f"openid-configuration: jwks_uri {config.get('jwks_uri')!r} is not under the issuer")
    check(set(config.get("id_token_signing_alg_values_supported", [])) <= {"RS256", "RS384", "RS512"}, "openid-configuration: signing algorithms must be RSA")
    keys = published.get("jwks", {}).get("keys", [])
    check(len(keys) >= 1, "the published JWKS has no keys")
    for key in keys:
        name = key.get("kid", "<no kid>")
        check(key.get("kty") == "RSA", f"JWKS key {name}: kty {key.get('kty')!r}; API Gateway's JWT authorizer supports RSA keys only")
        check(key.get("alg") == "RS256", f"JWKS key {name}: alg {key.get('alg')!r}, expected RS256")
        check(bool(key.get("kid")), "a JWKS key has no kid (the authorizer picks the key by the token's kid)")
        check(key.get("use") == "sig", f"JWKS key {name}: use must be sig")
        check(bool(key.get("n")) and key.get("e") == "AQAB", f"JWKS key {name}: needs n and e")
        check(not any(k in key for k in ("d", "p", "q", "dp", "dq", "qi")), f"JWKS key {name}: private parts published")
    check(len({k.get("kid") for k in keys}) == len(keys), "JWKS key ids must be unique")


def statements(props):
    for policy in props.get("Policies", []):
        if isinstance(policy, dict):
            yield from policy.get("Statement", [])


def check_secret_access(template, by_crate):
    """The signing secret: read (GetSecretValue only) by the HTTP function
    only, on that one secret's ARN; no key material in any environment."""
    params = template.get("Parameters", {})
    check("JwtSigningSecretName" in params, "the template needs the JwtSigningSecretName parameter")
    expected = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${JwtSigningSecretName}-??????"
    for crate, (logical_id, props) in by_crate.items():
        env = props.get("Environment", {}).get("Variables", {})
        for name, value in env.items():
            check("resolve:secretsmanager" not in json.dumps(value), f"{logical_id}: {name} resolves a secret into the environment")
        secret_statements = [
            st for st in statements(props)
            if any(str(a).lower().startswith("secretsmanager:") for a in (st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]))
        ]
        if crate in SECRET_READERS:
            check(env.get("JWT_SIGNING_SECRET_ID") == {"Ref": "JwtSigningSecretName"}, f"{logical_id}: JWT_SIGNING_SECRET_ID must be !Ref JwtSigningSecretName")
            check(len(secret_statements) == 1, f"{logical_id}: expected one Secrets Manager statement")
            for st in secret_statements:
                check(st.get("Action") in ("secretsmanager:GetSecretValue", ["secretsmanager:GetSecretValue"]), f"{logical_id}: only secretsmanager:GetSecretValue")
                check(sub_text(st.get("Resource")) == expected, f"{logical_id}: the secret statement must name only {expected}")
        else:
            check(not secret_statements, f"{logical_id}: must not have access to Secrets Manager")


def check_push_access(template, by_crate):
    """Mobile push: a role may register devices (CreatePlatformEndpoint)
    only in the PushPlatformApplicationArn application and publish only to
    that application's endpoints (arn:...:endpoint/PLATFORM/NAME/ID for
    arn:...:app/PLATFORM/NAME), and only when the parameter is set."""
    conditions = template.get("Conditions", {})
    endpoints = {"Fn::Join": ["", [{"Fn::Join": [":endpoint/", {"Fn::Split": [":app/", {"Ref": "PushPlatformApplicationArn"}]}]}, "/*"]]}
    for logical_id, props in by_crate.values():
        for item in statements(props):
            branches = item.get("Fn::If") if isinstance(item, dict) else None
            statement = branches[1] if branches else item
            actions = statement.get("Action") if isinstance(statement.get("Action"), list) else [statement.get("Action")]
            registers = "sns:CreatePlatformEndpoint" in actions
            pushes = "sns:Publish" in actions and "Resource" in statement
            if not (registers or pushes):
                continue
            check(
                branches is not None
                and conditions.get(branches[0]) == {"Fn::Not": [{"Fn::Equals": [{"Ref": "PushPlatformApplicationArn"}, ""]}]}
                and branches[2] == {"Ref": "AWS::NoValue"},
                f"{logical_id}: the push statement {statement.get('Sid')} must exist only when PushPlatformApplicationArn is set",
            )
            if registers:
                check(actions == ["sns:CreatePlatformEndpoint"] and statement.get("Resource") == {"Ref": "PushPlatformApplicationArn"}, f"{logical_id}: CreatePlatformEndpoint only on PushPlatformApplicationArn")
            if pushes:
                check(actions == ["sns:Publish"] and statement.get("Resource") == endpoints, f"{logical_id}: Publish only to the endpoints of PushPlatformApplicationArn")


def parse_localstack_hook():
    """The table and queue the LocalStack init hook creates."""
    text = LOCALSTACK_HOOK.read_text().replace("\\\n", " ")
    words = shlex.split(text, comments=True)

    def after(flag):
        i = words.index(flag)
        out = []
        for w in words[i + 1 :]:
            if w.startswith("--") or w in ("awslocal", "&&"):
                break
            out.append(w)
        return out

    def kv(item):
        return dict(part.split("=", 1) for part in item.split(","))

    attributes = sorted((kv(a)["AttributeName"], kv(a)["AttributeType"]) for a in after("--attribute-definitions"))
    keys = [(kv(k)["AttributeName"], kv(k)["KeyType"]) for k in after("--key-schema")]
    ttl_spec = kv(after("--time-to-live-specification")[0])
    table = {
        "attributes": attributes,
        "keys": keys,
        "billing": after("--billing-mode")[0],
        "ttl": ttl_spec["AttributeName"] if ttl_spec["Enabled"] == "true" else None,
        "indexes": text.count("--global-secondary-indexes") + text.count("--local-secondary-indexes"),
    }
    raw = LOCALSTACK_HOOK.read_text()
    visibility = re.search(r'VisibilityTimeout\\?":\\?"(\d+)', raw)
    max_receive = re.search(r'maxReceiveCount\\*":\\*"(\d+)', raw)
    dlq = re.search(r'--queue-name "\$QUEUE(-[a-z]+)"', raw)
    queue = {
        "visibility": int(visibility.group(1)) if visibility else None,
        "max_receive": int(max_receive.group(1)) if max_receive else None,
        "fifo": "FifoQueue" in raw,
        "dlq_suffix": dlq.group(1) if dlq else None,
    }
    return {"table": table, "queue": queue}


if __name__ == "__main__":
    main()
    check_localstack_image()
    if failures:
        print("infra/template.yaml does not match the code:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        sys.exit(1)
    print("infra/template.yaml matches the code (functions, code paths, environment, routes, JWT authorizer and published keys, signing secret access, push access, queue, table, alarms, logging role, LocalStack image)")
