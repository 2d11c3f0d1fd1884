#!/usr/bin/env python3
"""Proves infra/template.yaml matches the code (run by infra/check.sh).

Checks: one function resource per crate under functions/ and back; every
CodeUri is cargo-lambda's zip of an existing crate; every environment
variable a function reads is set on it; every HTTP route key has a route
(public ones without an authorizer, the others with the JWT authorizer);
every WebSocket route key has a route (with a route response where the
handler answers); the timer queue's visibility timeout exceeds the
consumer's timeout; the table and queues equal the LocalStack hook's.
Needs PyYAML only.
"""

import re
import shlex
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
LOCALSTACK_HOOK = ROOT / "localstack" / "init" / "ready.d" / "10-create-resources.sh"

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
}
#   NO_INIT_PRIMING (wiring::prime) switches init priming off, for infra/coldstart.sh.
#   SIGN_IN_PEPPER (wiring::lambda_app; without it the pepper is derived from the signing key) and
#   SMS_SENDER_ID (an optional SMS sender name) are optional too.
OPTIONAL_NOT_SET = {"OFFER_WINDOW_MS", "MAX_GEO_QUERIES", "NO_INIT_PRIMING", "SIGN_IN_PEPPER", "SMS_SENDER_ID"}
#   wiring::serve -> wiring::lambda_app: JWT_SIGNING_KEY (only where tokens are issued) and then JWT_ISSUER;
#   wiring::token_verifier: JWT_JWKS and JWT_ISSUER.
REQUIRED_ENV = {
    "http-api": AWS_RESOURCES | ORDERING_CONFIG | {"JWT_SIGNING_KEY", "JWT_ISSUER"},
    "ws-api": AWS_RESOURCES | ORDERING_CONFIG,
    "offer-timer": AWS_RESOURCES | ORDERING_CONFIG,
    "ws-authorizer": {"JWT_JWKS", "JWT_ISSUER"},
}
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
    deployment = [v for v in of_type("AWS::ApiGatewayV2::Deployment").values() if v["Properties"]["ApiId"] == {"Ref": ws_api}]
    check(len(deployment) == 1, "the WebSocket API needs one deployment")
    if deployment:
        needed = {k for k, _ in ws_routes.values()} | {k for k, v in resources.items() if v["Type"] == "AWS::ApiGatewayV2::RouteResponse"}
        check(needed <= set(deployment[0].get("DependsOn", [])), f"the WebSocket deployment must depend on {sorted(needed - set(deployment[0].get('DependsOn', [])))}")
    for api in (http_api, ws_api):
        stages = [v["Properties"] for v in of_type("AWS::ApiGatewayV2::Stage").values() if v["Properties"]["ApiId"] == {"Ref": api}]
        check(len(stages) == 1, f"{api} needs one stage")
        for stage in stages:
            settings = stage.get("DefaultRouteSettings", {})
            check("ThrottlingRateLimit" in settings and "ThrottlingBurstLimit" in settings, f"{api}: stage throttling missing")

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
    check(int(queue["VisibilityTimeout"]) > int(consumer_timeout), f"visibility timeout {queue['VisibilityTimeout']} must exceed offer-timer's timeout {consumer_timeout}")
    redrive = queue["RedrivePolicy"]
    dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    check(dlq_id in queues, "the redrive target must be a queue of this template")

    hook = parse_localstack_hook()
    table = next(iter(of_type("AWS::DynamoDB::Table").values()))["Properties"]
    check(len(of_type("AWS::DynamoDB::Table")) == 1, "expected one table")
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
    alarms = [v["Properties"] for v in of_type("AWS::CloudWatch::Alarm").values()]
    def alarmed(metric, dim_value):
        return any(a["MetricName"] == metric and any(d["Value"] == dim_value for d in a["Dimensions"]) for a in alarms)
    check(alarmed("ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": [dlq_id, "QueueName"]}), "no alarm on the dead-letter queue")
    for logical_id, _ in by_crate.values():
        for metric in ("Errors", "Throttles"):
            check(alarmed(metric, {"Ref": logical_id}), f"no {metric} alarm for {logical_id}")
    outputs = template.get("Outputs", {})
    check({"HttpApiUrl", "WebSocketUrl"} <= set(outputs), "outputs must include HttpApiUrl and WebSocketUrl")


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
    if failures:
        print("infra/template.yaml does not match the code:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        sys.exit(1)
    print("infra/template.yaml matches the code (functions, code paths, environment, routes, queue, table)")
