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

mod same_name {
    /// Two functions with one qualified name (a free function, and a method
    /// under a method-level attribute, qualified without its type).
    #[instrument_once::instrument_once]
    pub(crate) fn twin() {}

    pub(crate) struct S;
    impl S {
        #[instrument_once::instrument_once]
        pub(crate) fn twin() {}
    }
}

#[test]
fn the_diagnosis_report_names_each_function_once_as_a_lone_diagnosis_does() {
    same_name::twin();
    same_name::S::twin();
    let report = instrument_once::diagnose();
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    let entries = json["sites"].as_array().unwrap();
    assert_eq!(entries.len(), report.sites().len());
    let mut seen = std::collections::HashSet::new();
    for (entry, diagnosis) in entries.iter().zip(report.sites()) {
        let alone = serde_json::to_value(diagnosis).unwrap();
        assert_eq!(entry, &alone, "the report's entry is the lone diagnosis");
        assert!(seen.insert(entry["function"].as_str().unwrap().to_owned()));
    }
    let twins: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["function"].as_str())
        .filter(|f| f.starts_with(concat!(module_path!(), "::same_name::twin")))
        .collect();
    assert_eq!(twins.len(), 2, "{twins:?}");
    assert!(twins.iter().all(|f| f.contains(".rs:")), "{twins:?}");
}
