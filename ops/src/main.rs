//! Operators' command line:
//!
//! ```text
//! cargo run -p ops -- init-signing-key   --secret-id ID
//! cargo run -p ops -- rotate-signing-key --secret-id ID [--overlap-seconds N]
//! cargo run -p ops -- print-jwks         [--issuer URL]
//! cargo run -p ops -- add-operator       --phone +8801XXXXXXXXX   (TABLE_NAME set)
//! cargo run -p ops -- reindex-geo                                 (TABLE_NAME set)
//! cargo run -p ops -- timer-dlq          --dlq-url URL [--max N]
//! cargo run -p ops -- redrive-timers     --dlq-url URL --queue-url URL [--max N]
//! ```
//!
//! AWS credentials, region and endpoint come from the usual AWS variables
//! and profiles (`AWS_ENDPOINT_URL` points it at moto or LocalStack). Each
//! subcommand is one function below; the work is in the library.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use ops::signing_key::{DEFAULT_ROTATION_OVERLAP_S, KeySummary, init_signing_key, rotate_signing_key};

const USAGE: &str = "usage:
  ops init-signing-key   --secret-id ID                        create the signing secret with a fresh RSA key
  ops rotate-signing-key --secret-id ID [--overlap-seconds N]  new current key; the old one stays valid N s
                                                               (default: access token lifetime + 5 min)
  ops print-jwks         [--issuer URL]                        the OpenID configuration and JWKS the code publishes
  ops add-operator       --phone NUMBER                        make the holder of NUMBER an operator (TABLE_NAME: the table)
  ops reindex-geo                                              move geo index entries to the current partition layout
                                                               and rebuild the crowd counts (TABLE_NAME: the table; safe to repeat)
  ops timer-dlq          --dlq-url URL [--max N]               list the round timers in the dead-letter queue
  ops redrive-timers     --dlq-url URL --queue-url URL [--max N]
                                                               move them back to the timer queue (safe to repeat)";

/// `--name value` pairs after the subcommand.
struct Args(Vec<String>);

impl Args {
    fn value(&self, flag: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }

    fn required(&self, flag: &str) -> Result<&str, String> {
        self.value(flag).ok_or_else(|| format!("{flag} is required"))
    }

    /// Refuses flags the subcommand does not know (a typo must not be
    /// silently ignored by a key rotation).
    fn only(&self, known: &[&str]) -> Result<(), String> {
        let mut i = 0;
        while i < self.0.len() {
            if !known.contains(&self.0[i].as_str()) {
                return Err(format!("unknown argument {}", self.0[i]));
            }
            i += 2;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let command = argv.remove(0);
    let args = Args(argv);
    let result = match command.as_str() {
        "init-signing-key" => init(&args).await,
        "rotate-signing-key" => rotate(&args).await,
        "print-jwks" => print_jwks(&args).await,
        "add-operator" => add_operator(&args).await,
        "reindex-geo" => reindex_geo(&args).await,
        "timer-dlq" => timer_dlq(&args).await,
        "redrive-timers" => redrive_timers(&args).await,
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&shared::aws::sdk_config().await)
}

fn report(summary: &KeySummary) {
    println!("current key: {}", summary.current_kid);
    if let (Some(kid), Some(until)) = (&summary.previous_kid, summary.previous_valid_until) {
        println!("previous key: {kid}, valid until {until} (unix seconds)");
    }
}

async fn init(args: &Args) -> Result<(), String> {
    args.only(&["--secret-id"])?;
    let secret_id = args.required("--secret-id")?;
    let summary = init_signing_key(&secrets_client().await, secret_id)
        .await
        .map_err(|e| e.to_string())?;
    println!("created {secret_id}");
    report(&summary);
    Ok(())
}

async fn rotate(args: &Args) -> Result<(), String> {
    args.only(&["--secret-id", "--overlap-seconds"])?;
    let secret_id = args.required("--secret-id")?;
    let overlap_s = match args.value("--overlap-seconds") {
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| format!("--overlap-seconds: not a number: {text}"))?,
        None => DEFAULT_ROTATION_OVERLAP_S,
    };
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let now_s = i64::try_from(now_s).map_err(|e| e.to_string())?;
    let summary = rotate_signing_key(&secrets_client().await, secret_id, overlap_s, now_s)
        .await
        .map_err(|e| e.to_string())?;
    println!("rotated {secret_id}");
    report(&summary);
    Ok(())
}

async fn print_jwks(args: &Args) -> Result<(), String> {
    args.only(&["--issuer"])?;
    let issuer = args.value("--issuer").unwrap_or("https://issuer.example/prod");
    let published = ops::jwks::published(issuer).await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&published).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// `--max N`, 100 when absent.
fn max_messages(args: &Args) -> Result<usize, String> {
    match args.value("--max") {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| format!("--max: not a number: {text}")),
        None => Ok(100),
    }
}

async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&shared::aws::sdk_config().await)
}

async fn timer_dlq(args: &Args) -> Result<(), String> {
    args.only(&["--dlq-url", "--max"])?;
    let dlq_url = args.required("--dlq-url")?;
    let waiting = ops::timers::inspect(&sqs_client().await, dlq_url, max_messages(args)?)
        .await
        .map_err(|e| e.to_string())?;
    println!("{} round timers waiting", waiting.len());
    for dead in waiting {
        let what = dead.timer.map_or_else(
            || "not a round timer".to_string(),
            |t| format!("order {} round {}", t.order_id, t.round),
        );
        let sent = dead
            .sent_at_ms
            .map_or_else(String::new, |ms| format!(", sent at {ms} (unix ms)"));
        println!(
            "  {}: {what}, received {} times{sent}",
            dead.message_id, dead.receive_count
        );
    }
    Ok(())
}

async fn redrive_timers(args: &Args) -> Result<(), String> {
    args.only(&["--dlq-url", "--queue-url", "--max"])?;
    let (dlq_url, queue_url) = (args.required("--dlq-url")?, args.required("--queue-url")?);
    let done = ops::timers::redrive(&sqs_client().await, dlq_url, queue_url, max_messages(args)?)
        .await
        .map_err(|e| e.to_string())?;
    println!("moved {} round timers back to the timer queue", done.moved);
    if !done.unreadable.is_empty() {
        println!(
            "left {} messages that are not round timers: {}",
            done.unreadable.len(),
            done.unreadable.join(", ")
        );
    }
    Ok(())
}

/// The stack's table, named by `TABLE_NAME`.
async fn stack_table() -> Result<shared::aws::DynamoStorage, String> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME (the stack's table) is required".to_string())?;
    Ok(shared::aws::DynamoStorage::new(
        aws_sdk_dynamodb::Client::new(&shared::aws::sdk_config().await),
        table,
    ))
}

async fn reindex_geo(args: &Args) -> Result<(), String> {
    args.only(&[])?;
    let storage = stack_table().await?;
    let done = storage.reindex_geo().await.map_err(|e| e.to_string())?;
    println!(
        "geo index: {} entries moved to the current layout, {} stale entries deleted, {} already current; \
         crowd counts rebuilt in {} items",
        done.moved, done.dropped, done.current, done.crowd_items
    );
    Ok(())
}

async fn add_operator(args: &Args) -> Result<(), String> {
    args.only(&["--phone"])?;
    let phone = shared::domain::customer::PhoneNumber::new(args.required("--phone")?).map_err(|e| e.to_string())?;
    let storage = stack_table().await?;
    let appointed = shared::usecases::operators::appoint_operator(&storage, &phone)
        .await
        .map_err(|e| e.to_string())?;
    if appointed.new {
        println!("{} is operator {}", phone.masked(), appointed.operator);
    } else {
        println!("{} was operator {} already", phone.masked(), appointed.operator);
    }
    Ok(())
}
