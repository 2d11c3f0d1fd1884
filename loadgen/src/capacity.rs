//! DynamoDB request units of a call, computed by DynamoDB's documented
//! rules from the items it read or wrote, as they travel on the wire.
//!
//! moto answers `ReturnConsumedCapacity` with a fixed number per call (1 or
//! 0.5, whatever was read), so the latency mode's proxy sizes the items
//! instead:
//! - item size: every attribute's name (UTF-8 bytes) plus its value: a
//!   string its UTF-8 bytes, a number about one byte per two significant
//!   digits plus one, binary its bytes, a boolean or null one byte, a set
//!   its members, a map or list 3 bytes plus one per element plus the
//!   elements (maps: names too);
//! - reads: 4 KB per read unit, an eventually consistent read half a unit;
//!   `GetItem` and each key of a `BatchGetItem` are sized per item (a
//!   missing item still costs one step), a `Query` page by its items' total
//!   size (the items it returned: a filter's dropped items are not seen
//!   here, so a filtered query is undercounted);
//! - writes: 1 KB per write unit, of the larger of the item before and
//!   after (a delete: the item deleted); a write refused by its condition
//!   still costs the item as it stood; in `TransactWriteItems` every action
//!   costs double, a `ConditionCheck` as a write of the item it checks, and
//!   a cancelled transaction is counted as if it had written (it prepared
//!   every item: an upper bound).
//!
//! The sizes before and after a write are read from the server by the proxy
//! itself (`BatchGetItem`, not counted), keyed by the table's `pk` and `sk`.

use serde_json::{Map, Value};

/// Request units and what they were spent on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Consumed {
    pub read_units: f64,
    pub write_units: f64,
    /// Items read and their total size (reads only).
    pub items_read: u64,
    pub bytes_read: u64,
}

impl Consumed {
    pub fn add(&mut self, other: Consumed) {
        self.read_units += other.read_units;
        self.write_units += other.write_units;
        self.items_read += other.items_read;
        self.bytes_read += other.bytes_read;
    }
}

const READ_UNIT_BYTES: u64 = 4 * 1024;
const WRITE_UNIT_BYTES: u64 = 1024;

/// The size DynamoDB counts for an item in the wire format
/// (`{"pk": {"S": "..."}, ...}`).
#[must_use]
pub fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = || inner.as_str().unwrap_or_default();
    let members = || inner.as_array().map(Vec::as_slice).unwrap_or_default();
    match kind.as_str() {
        "S" => text().len() as u64,
        "N" => number_size(text()),
        "B" => base64_len(text()),
        "BOOL" | "NULL" => 1,
        "SS" => members().iter().map(|m| m.as_str().map_or(0, str::len) as u64).sum(),
        "NS" => members()
            .iter()
            .map(|m| number_size(m.as_str().unwrap_or_default()))
            .sum(),
        "BS" => members()
            .iter()
            .map(|m| base64_len(m.as_str().unwrap_or_default()))
            .sum(),
        "L" => 3 + members().iter().map(|m| 1 + value_size(m)).sum::<u64>(),
        "M" => {
            let entries = inner
                .as_object()
                .map(|m| m.iter().collect::<Vec<_>>())
                .unwrap_or_default();
            3 + entries
                .iter()
                .map(|(name, v)| 1 + name.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// About one byte per two significant digits, plus one.
fn number_size(number: &str) -> u64 {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    significant.div_ceil(2) + 1
}

fn base64_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count() as u64;
    (text.len() as u64 / 4 * 3).saturating_sub(padding)
}

fn read_units(bytes: u64, consistent: bool) -> f64 {
    let steps = bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64;
    if consistent { steps } else { steps / 2.0 }
}

fn write_units(bytes: u64) -> f64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as f64
}

/// An item written by a call: its table and key.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub table: String,
    pub key: Map<String, Value>,
}

/// The table's key attributes (docs/dynamodb.md).
const KEY_ATTRIBUTES: [&str; 2] = ["pk", "sk"];

fn key_of(item: &Map<String, Value>) -> Map<String, Value> {
    KEY_ATTRIBUTES
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_string(), v.clone())))
        .collect()
}

fn object<'a>(value: &'a Value, field: &str) -> Option<&'a Map<String, Value>> {
    value.get(field).and_then(Value::as_object)
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// One write action: its table and key.
fn written_by(action: &Value, put: bool) -> Option<Written> {
    let key = if put {
        key_of(object(action, "Item")?)
    } else {
        object(action, "Key")?.clone()
    };
    Some(Written {
        table: text(action, "TableName").to_string(),
        key,
    })
}

/// The items a write call (`PutItem`, `UpdateItem`, `DeleteItem`,
/// `TransactWriteItems`) touches, in the order of its actions; empty for
/// any other call.
#[must_use]
pub fn items_written(operation: &str, request: &Value) -> Vec<Written> {
    match operation {
        "dynamodb.PutItem" => written_by(request, true).into_iter().collect(),
        "dynamodb.UpdateItem" | "dynamodb.DeleteItem" => written_by(request, false).into_iter().collect(),
        "dynamodb.TransactWriteItems" => request
            .get("TransactItems")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|action| {
                let (kind, body) = action.as_object()?.iter().next()?;
                written_by(body, kind == "Put")
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What one DynamoDB call consumed. `before` and `after` are the sizes of
/// the items of [`items_written`] as they stood before and after the call
/// (`None`: no such item).
#[must_use]
pub fn consumed(
    operation: &str,
    request: &Value,
    response: &Value,
    before: &[Option<u64>],
    after: &[Option<u64>],
) -> Consumed {
    let consistent = |r: &Value| r.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
    let mut used = Consumed::default();
    let mut read = |size: u64, units: f64| {
        used.items_read += 1;
        used.bytes_read += size;
        units
    };
    match operation {
        "dynamodb.GetItem" => {
            let size = object(response, "Item").map(item_size);
            used.read_units = match size {
                Some(size) => read(size, read_units(size, consistent(request))),
                None => read_units(0, consistent(request)),
            };
        }
        "dynamodb.BatchGetItem" => {
            let mut units = 0.0;
            for (table, asked) in object(request, "RequestItems").into_iter().flatten() {
                let strong = consistent(asked);
                let items = response
                    .get("Responses")
                    .and_then(|r| r.get(table))
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for item in items {
                    let size = item.as_object().map_or(0, item_size);
                    units += read(size, read_units(size, strong));
                }
                // Keys asked for and not found cost one step each.
                let keys = |v: Option<&Value>| {
                    v.and_then(|r| r.get("Keys"))
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                };
                let unprocessed = keys(response.get("UnprocessedKeys").and_then(|r| r.get(table)));
                let missing = keys(Some(asked))
                    .saturating_sub(unprocessed)
                    .saturating_sub(items.len());
                units += missing as f64 * read_units(0, strong);
            }
            used.read_units = units;
        }
        "dynamodb.Query" | "dynamodb.Scan" => {
            let mut total = 0;
            for item in response
                .get("Items")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let size = item.as_object().map_or(0, item_size);
                read(size, 0.0);
                total += size;
            }
            used.read_units = read_units(total, consistent(request));
        }
        "dynamodb.PutItem" | "dynamodb.UpdateItem" | "dynamodb.DeleteItem" | "dynamodb.TransactWriteItems" => {
            let factor = if operation == "dynamodb.TransactWriteItems" {
                2.0
            } else {
                1.0
            };
            let count = before.len().max(after.len());
            used.write_units = (0..count)
                .map(|i| {
                    let old = before.get(i).copied().flatten().unwrap_or(0);
                    let new = after.get(i).copied().flatten().unwrap_or(0);
                    factor * write_units(old.max(new))
                })
                .sum();
        }
        _ => {}
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        // "pk" (2) + "ab" (2), "n" (1) + 12345 (3 digits pairs: 3 + 1),
        // "ok" (2) + 1, "m" (1) + 3 + ("x" 1 + 1 + "yz" 2).
        let item = map(json!({
            "pk": {"S": "ab"},
            "n": {"N": "12345"},
            "ok": {"BOOL": true},
            "m": {"M": {"x": {"S": "yz"}}},
        }));
        assert_eq!(item_size(&item), 4 + 5 + 3 + 8);
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("-0.0012"), 2);
    }

    #[test]
    fn reads_round_up_per_4_kb_and_eventual_reads_cost_half() {
        let big = map(json!({"pk": {"S": "x".repeat(5_000)}}));
        let get = consumed(
            "dynamodb.GetItem",
            &json!({"ConsistentRead": true}),
            &json!({"Item": big}),
            &[],
            &[],
        );
        assert!((get.read_units - 2.0).abs() < f64::EPSILON);
        let missing = consumed("dynamodb.GetItem", &json!({}), &json!({}), &[], &[]);
        assert!((missing.read_units - 0.5).abs() < f64::EPSILON);
        let items: Vec<Value> = (0..10).map(|i| json!({"pk": {"S": format!("{i:0>998}")}})).collect();
        let query = consumed("dynamodb.Query", &json!({}), &json!({"Items": items}), &[], &[]);
        // 10 items of 1,000 bytes: 10,000 bytes, 3 steps, halved.
        assert!((query.read_units - 1.5).abs() < f64::EPSILON);
        assert_eq!(query.items_read, 10);
    }

    #[test]
    fn writes_cost_the_larger_item_per_kb_and_transactions_double() {
        let request = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"S": "x"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "c"}, "sk": {"S": "d"}}}},
        ]});
        let written = items_written("dynamodb.TransactWriteItems", &request);
        assert_eq!(written.len(), 2);
        assert_eq!(written[0].key, map(json!({"pk": {"S": "a"}, "sk": {"S": "b"}})));
        let used = consumed(
            "dynamodb.TransactWriteItems",
            &request,
            &json!({}),
            &[None, Some(3_000)],
            &[Some(100), Some(1_000)],
        );
        assert!((used.write_units - (2.0 + 2.0 * 3.0)).abs() < f64::EPSILON);
    }

    #[test]
    fn batch_reads_charge_missing_keys_too() {
        let request = json!({"RequestItems": {"t": {"Keys": [{}, {}, {}], "ConsistentRead": true}}});
        let response = json!({"Responses": {"t": [{"pk": {"S": "a"}}]}});
        let used = consumed("dynamodb.BatchGetItem", &request, &response, &[], &[]);
        assert!((used.read_units - 3.0).abs() < f64::EPSILON);
    }
}
