//! What the exports carry beyond the functions' counters: hook layers (in
//! the snapshot, its table, JSON and Prometheus), the overflow column, the
//! snapshot's time, named and unit-bearing JSON fields, and the diagnosis
//! as JSON.
#![allow(missing_docs)]

use std::sync::{Arc, LazyLock};

use instrument_once::hook::HookSlot;
use instrument_once::{instrument_once, DepthExceeded};

static ON_QUERY: LazyLock<HookSlot<u32, u32>> =
    LazyLock::new(|| HookSlot::new("exports::on_query", |q: u32| q + 1));

#[instrument_once(max_depth = 1, on_overflow = "error")]
fn walk(again: bool) -> Result<(), DepthExceeded> {
    if again {
        let _ = walk(false);
    }
    Ok(())
}

/// The element of the JSON array `list` whose `field` is `value`.
fn entry<'a>(
    json: &'a serde_json::Value,
    list: &str,
    field: &str,
    value: &str,
) -> &'a serde_json::Value {
    json[list]
        .as_array()
        .unwrap_or_else(|| panic!("`{list}` is an array: {json}"))
        .iter()
        .find(|e| e[field] == value)
        .unwrap_or_else(|| panic!("no `{list}` entry with {field} = {value}: {json}"))
}

#[test]
fn hook_layers_are_in_every_export() {
    ON_QUERY.wrap_once("audit", |inner| Arc::new(move |q| inner(q)));
    for q in 0..3 {
        ON_QUERY.call(q);
    }
    let snap = instrument_once::registry().snapshot();
    let audit = snap
        .hooks()
        .iter()
        .find(|h| h.slot == "exports::on_query" && h.layer.key == "audit")
        .expect("in the snapshot");
    assert_eq!(audit.layer.calls, 3);

    let table = snap.to_string();
    let row = table
        .lines()
        .find(|l| l.starts_with("exports::on_query"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("audit") && row.contains(" 3 ") && row.contains("exports.rs"),
        "{row}"
    );

    let text = snap.to_prometheus();
    assert!(text.contains("# TYPE instrument_once_hook_layer_calls_total counter"));
    assert!(
        text.contains(
            "instrument_once_hook_layer_calls_total{slot=\"exports::on_query\",layer=\"audit\"} 3"
        ),
        "{text}"
    );

    let json = serde_json::to_value(&snap).unwrap();
    let layer = entry(&json, "hooks", "slot", "exports::on_query");
    assert_eq!(layer["layer"]["key"], "audit");
    assert_eq!(layer["layer"]["calls"], 3);
    assert!(layer["layer"]["location"]
        .as_str()
        .unwrap()
        .contains("exports.rs:"));
    assert!(layer["layer"]["at_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
}

#[test]
fn the_table_has_the_overflows_and_json_its_units_and_time() {
    walk(true).unwrap();
    let snap = instrument_once::registry().snapshot();
    let table = snap.to_string();
    let header = table.lines().next().unwrap();
    assert!(header.contains("overflows"), "{header}");
    let row = table.lines().find(|l| l.contains("::walk")).unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    let overflows = header
        .split_whitespace()
        .position(|c| c == "overflows")
        .unwrap();
    // The header's first word is "function": the row's columns line up.
    // (Other tests of this binary walk too: compare with the snapshot.)
    let walked = snap.sites().iter().find(|s| s.name == "walk").unwrap();
    assert!(walked.stats.depth_overflows >= 1);
    assert_eq!(
        columns[overflows],
        walked.stats.depth_overflows.to_string(),
        "{header}\n{row}"
    );

    let json = serde_json::to_value(&snap).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let taken = u128::from(json["taken_at_unix_ms"].as_u64().expect("a timestamp"));
    assert!(
        taken <= now_ms && now_ms - taken < 60_000,
        "{taken} vs {now_ms}"
    );
    let site = entry(&json, "sites", "name", "walk");
    let bucket = &site["latency_buckets"][0];
    assert!(
        bucket["le_seconds"].is_f64() && bucket["count"].is_u64(),
        "{bucket}"
    );
    assert_eq!(
        site["stats"]["depth_overflows"],
        walked.stats.depth_overflows
    );
}

#[test]
fn the_diagnosis_serialises() {
    walk(true).unwrap();
    let report = instrument_once::diagnose();
    let json = serde_json::to_value(&report).unwrap();
    let walk = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["function"].as_str().unwrap().ends_with("::walk"))
        .expect("listed by unique name");
    // No subscriber in this binary.
    assert_eq!(walk["verdict"]["verdict"], "no_subscriber");
    assert!(walk["verdict"]["detail"]
        .as_str()
        .unwrap()
        .contains("subscriber"));
    assert!(walk["stats"]["calls"].as_u64().unwrap() >= 1);
    assert!(json["invalid_directives"].as_array().unwrap().is_empty());
    assert!(json["unmatched_directives"].is_array());
    assert!(json["histogram_memory"]["cap"].as_u64().unwrap() > 0);
}
