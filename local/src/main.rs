//! `cargo run -p local-stack`: the whole system on this machine.
//!
//! Listens on 127.0.0.1:8080 (`--port N` or `PORT`; `--host` or `HOST`).
//! Routing knobs come from the same variables as on Lambda:
//! `OFFER_WINDOW_SECONDS` (or `OFFER_WINDOW_MS`), `STORES_PER_ROUND`,
//! `MAX_ROUNDS`, `MATCH_RADIUS_M`.
//!
//! `--operator-phone +8801XXXXXXXXX` (or `OPERATOR_PHONE`) makes that
//! number an operator at start (the first operator; on AWS the same use
//! case runs as `cargo run -p ops -- add-operator --phone ...`).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use local_stack::{Backend, LocalOptions, start};
use shared::domain::config::OrderingConfig;

fn option(args: &[String], flag: &str, env: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
}

/// The stack allocates and frees small buffers on every request and push;
/// glibc's allocator spent about a tenth of its time doing so under load
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(shared::wiring::log_filter(
            &std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()),
        ))
        .init();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: local-stack [--host 127.0.0.1] [--port 8080] [--operator-phone +8801XXXXXXXXX]");
        return ExitCode::SUCCESS;
    }
    let host: IpAddr = match option(&args, "--host", "HOST")
        .unwrap_or_else(|| "127.0.0.1".into())
        .parse()
    {
        Ok(host) => host,
        Err(e) => {
            eprintln!("bad host: {e}");
            return ExitCode::from(2);
        }
    };
    let port: u16 = match option(&args, "--port", "PORT").unwrap_or_else(|| "8080".into()).parse() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("bad port: {e}");
            return ExitCode::from(2);
        }
    };
    let ordering = match OrderingConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let signing_key_pem = match std::env::var("JWT_SIGNING_KEY_FILE") {
        Ok(path) => match std::fs::read_to_string(&path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                eprintln!("cannot read JWT_SIGNING_KEY_FILE {path}: {e}");
                return ExitCode::from(2);
            }
        },
        Err(_) => None,
    };
    let key_refresh = match shared::wiring::key_refresh() {
        Ok(refresh) => refresh,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let operator_phone = match option(&args, "--operator-phone", "OPERATOR_PHONE")
        .map(|raw| shared::domain::customer::PhoneNumber::new(&raw))
        .transpose()
    {
        Ok(phone) => phone,
        Err(e) => {
            eprintln!("bad operator phone: {e}");
            return ExitCode::from(2);
        }
    };
    let options = LocalOptions {
        addr: SocketAddr::new(host, port),
        backend: Backend::from_env(),
        ordering,
        // Key material never passes through the environment: a PEM file,
        // or a secret read from Secrets Manager at AWS_ENDPOINT_URL.
        signing_key_pem,
        signing_secret_id: std::env::var("JWT_SIGNING_SECRET_ID").ok(),
        key_refresh,
        ..LocalOptions::default()
    };
    let stack = match start(options).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("could not start on {host}:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match stack.backend_name() {
        "embedded" => println!("local stack ready (embedded storage and timers; no Docker, no cloud)"),
        _ => println!("local stack ready on DynamoDB and SQS at AWS_ENDPOINT_URL"),
    }
    println!("  HTTP API:      {}", stack.http_url());
    println!(
        "  web apps:      {0}/app/customer/ (customers) and {0}/app/store/ (stores)",
        stack.http_url()
    );
    println!(
        "  WebSocket API: {}?token=<access token> (from /auth/guest, sign-in or /dev/tokens)",
        stack.ws_url()
    );
    println!(
        "  @connections:  {}/@connections/{{id}} (SigV4, service execute-api, access key {})",
        stack.management_url(),
        stack.management_credentials().access_key_id()
    );
    println!(
        "  dev tokens:    curl -X POST {}/dev/tokens -H 'Content-Type: application/json' -d '{{\"caller\":\"store:s1\"}}' (local only)",
        stack.http_url()
    );
    if stack.backend_name() == "embedded" {
        println!(
            "  dev SMS:       curl {}/dev/sms/+8801XXXXXXXXX (the last sign-in text to a number; local only)",
            stack.http_url()
        );
        println!(
            "  dev pushes:    curl {}/dev/notifications (every SMS receipt and mobile push sent; local only)",
            stack.http_url()
        );
    }
    println!(
        "  offer window {} ms, {} stores per round, {} rounds, radius {} m",
        ordering.offer_window_ms, ordering.stores_per_round, ordering.max_rounds, ordering.radius_m
    );
    if let Some(phone) = &operator_phone {
        match stack.appoint_operator(phone).await {
            Ok(appointed) => println!(
                "  operator:      {} is operator:{}{}",
                phone.masked(),
                appointed.operator,
                if appointed.new { "" } else { " (already)" }
            ),
            Err(e) => {
                eprintln!("could not appoint the operator: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping");
    ExitCode::SUCCESS
}
