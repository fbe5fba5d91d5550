//! With the `serde` feature, a snapshot serialises to JSON with every
//! counter and the latency in nanoseconds.
#![allow(missing_docs)]

#[instrument_once::instrument_once]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[test]
fn a_snapshot_serialises_to_json() {
    let _ = parse("7");
    let _ = parse("x");
    let snap = instrument_once::registry().snapshot();
    let json: serde_json::Value = serde_json::to_value(&snap).unwrap();
    let site = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["qualified_name"] == concat!(module_path!(), "::parse"))
        .expect("listed");
    assert_eq!(site["stats"]["calls"], 2);
    assert_eq!(site["stats"]["ok"], 1);
    assert_eq!(site["stats"]["errors"], 1);
    assert_eq!(site["stats"]["latency"]["count"], 2);
    assert!(site["stats"]["latency"]["max_ns"].as_u64().unwrap() > 0);
    assert_eq!(site["enabled"], true);
    assert!(site["latency_buckets"].as_array().is_some());
}
