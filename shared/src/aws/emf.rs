//! CloudWatch embedded metric format: one JSON line on stdout per change
//! that moves a figure. Lambda sends stdout to CloudWatch Logs, which turns
//! such lines into metrics (no API call, no extra latency). Each line
//! carries two dimension sets: per area, and none (the whole city), so an
//! alarm can watch the city without summing areas.
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use serde_json::{Map, Value, json};

use crate::domain::clock::Millis;
use crate::domain::figures::Metric;

/// The namespace of the journey's metrics (infra/README.md lists them).
pub const NAMESPACE: &str = "NeighbourhoodShops/Orders";

/// The EMF line for `metrics` in `area` at `at_ms`.
#[must_use]
pub fn line(area: &str, metrics: &[Metric], at_ms: Millis) -> String {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|m| json!({ "Name": m.name, "Unit": m.unit.as_str() }))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Area"], []],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert("Area".into(), Value::String(area.to_string()));
    for metric in metrics {
        root.insert(metric.name.into(), json!(metric.value));
    }
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::MetricUnit;

    #[test]
    fn a_line_declares_each_metric_with_its_unit_and_both_dimension_sets() {
        let metrics = [
            Metric {
                name: "OrdersAccepted",
                value: 1.0,
                unit: MetricUnit::Count,
            },
            Metric {
                name: "TimeToAccept",
                value: 7_000.0,
                unit: MetricUnit::Milliseconds,
            },
        ];
        let parsed: Value = serde_json::from_str(&line("873c1a4a6ffffff", &metrics, 1_700_000_000_000)).expect("json");
        assert!(!line("a", &metrics, 0).contains('\n'), "one line per record");
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(parsed["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Area"], []]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "OrdersAccepted", "Unit": "Count" }, { "Name": "TimeToAccept", "Unit": "Milliseconds" }])
        );
        assert_eq!(parsed["Area"], "873c1a4a6ffffff");
        assert_eq!(
            (parsed["OrdersAccepted"].as_f64(), parsed["TimeToAccept"].as_f64()),
            (Some(1.0), Some(7_000.0))
        );
    }
}
