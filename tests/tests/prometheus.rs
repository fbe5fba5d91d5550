//! The Prometheus text output parses with a real parser, and a golden test
//! pins its format.
#![allow(missing_docs)]

use instrument_once::instrument_once;

mod golden {
    #[instrument_once::instrument_once(timing = false)]
    pub(crate) fn lookup(fail: bool) -> Result<u32, String> {
        if fail {
            Err("missing".into())
        } else {
            Ok(1)
        }
    }
}

#[instrument_once]
fn timed(n: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_micros(n));
    n
}

fn lines_for(text: &str, function: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with('#') || l.contains(&format!("function=\"{function}\"")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bucket bounds are the powers of √2 from 8.2 µs to 12.1 s, bounds of
/// the exponential buckets themselves, so counts are exact and every
/// function (and process) has the same `le` set.
/// The whole text exposition of `golden::lookup` (default layout).
const GOLDEN: &str = r#"# HELP instrument_once_calls_total Finished calls of instrumented functions, by result.
# TYPE instrument_once_calls_total counter
instrument_once_calls_total{function="prometheus::golden::lookup",result="ok"} 2
instrument_once_calls_total{function="prometheus::golden::lookup",result="error"} 1
instrument_once_calls_total{function="prometheus::golden::lookup",result="panic"} 0
instrument_once_calls_total{function="prometheus::golden::lookup",result="cancelled"} 0
# HELP instrument_once_in_flight Calls of instrumented functions started and not finished.
# TYPE instrument_once_in_flight gauge
instrument_once_in_flight{function="prometheus::golden::lookup"} 0
# HELP instrument_once_depth_overflows_total Calls past max_depth or the per-thread depth ceiling.
# TYPE instrument_once_depth_overflows_total counter
instrument_once_depth_overflows_total{function="prometheus::golden::lookup"} 0
# HELP instrument_once_duration_seconds Latency of instrumented calls that returned.
# TYPE instrument_once_duration_seconds histogram
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000008192"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00000974198468610229"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000011585237502960395"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000013777246867516859"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000016384"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00001948396937220458"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00002317047500592079"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000027554493735033717"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000032768"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00003896793874440916"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00004634095001184158"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000055108987470067434"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000065536"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00007793587748881832"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00009268190002368316"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00011021797494013487"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000131072"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00015587175497763664"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00018536380004736632"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00022043594988026974"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000262144"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0003117435099552733"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00037072760009473264"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00044087189976053947"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000524288"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0006234870199105466"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0007414552001894653"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0008817437995210789"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.001048576"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0012469740398210931"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0014829104003789306"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0017634875990421579"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.002097152"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0024939480796421862"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.002965820800757861"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0035269751980843158"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.004194304"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0049878961592843725"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.005931641601515722"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0070539503961686316"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.008388608"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.009975792318568745"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.011863283203031445"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.014107900792337263"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.016777216"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.01995158463713749"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.02372656640606289"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.028215801584674526"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.033554432"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.03990316927427498"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.04745313281212578"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.05643160316934905"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.067108864"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.07980633854854996"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.09490626562425156"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.1128632063386981"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.134217728"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.15961267709709992"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.1898125312485031"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.2257264126773962"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.268435456"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.31922535419419984"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.3796250624970062"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.4514528253547924"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.536870912"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.6384507083883997"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.7592501249940125"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.9029056507095848"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.073741824"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.2769014167767994"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.518500249988025"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.8058113014191697"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="2.147483648"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="2.5538028335535987"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="3.03700049997605"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="3.6116226028383394"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="4.294967296"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="5.107605667107197"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="6.0740009999521"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="7.223245205676679"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="8.589934592"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="10.215211334214395"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="12.1480019999042"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="+Inf"} 0
instrument_once_duration_seconds_sum{function="prometheus::golden::lookup"} 0
instrument_once_duration_seconds_count{function="prometheus::golden::lookup"} 0"#;

#[test]
fn golden_output_of_one_function() {
    for fail in [false, false, true] {
        let _ = golden::lookup(fail);
    }
    let text = instrument_once::registry().snapshot().to_prometheus();
    let expected = GOLDEN;
    assert_eq!(lines_for(&text, "prometheus::golden::lookup"), expected);
}

#[test]
fn the_whole_output_parses_with_a_real_parser() {
    for n in [1, 50, 500] {
        timed(n);
    }
    let text = instrument_once::registry().snapshot().to_prometheus();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition format");
    let name = concat!(module_path!(), "::timed");
    let calls: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "instrument_once_calls_total" && s.labels.get("function") == Some(name)
        })
        .collect();
    assert_eq!(calls.len(), 4, "one sample per result");
    let ok = calls
        .iter()
        .find(|s| s.labels.get("result") == Some("ok"))
        .unwrap();
    assert!(
        matches!(ok.value, prometheus_parse::Value::Counter(v) if (v - 3.0).abs() < f64::EPSILON),
        "{:?}",
        ok.value
    );
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "instrument_once_duration_seconds" && s.labels.get("function") == Some(name)
        })
        .expect("a histogram sample");
    let prometheus_parse::Value::Histogram(buckets) = &hist.value else {
        panic!("{:?}", hist.value)
    };
    let total = buckets.last().unwrap();
    assert!(total.less_than.is_infinite());
    assert!((total.count - 3.0).abs() < f64::EPSILON);
    // Cumulative: never decreasing. A sleep never returns early, so the
    // 500 µs call cannot be at or below 100 µs (however late a busy machine
    // wakes the others, which may land anywhere above their sleep).
    assert!(buckets
        .windows(2)
        .all(|w| w[0].count <= w[1].count && w[0].less_than < w[1].less_than));
    let under_100us = buckets
        .iter()
        .rev()
        .find(|b| b.less_than <= 0.000_11)
        .unwrap();
    assert!(under_100us.count <= 2.0, "{buckets:?}");
}

mod twice {
    //! Three ways two functions get one qualified name.
    #[derive(Debug)]
    pub(crate) struct A;
    #[derive(Debug)]
    pub(crate) struct B;

    impl A {
        #[instrument_once::instrument_once]
        pub(crate) fn new() -> A {
            A
        }
    }

    impl B {
        #[instrument_once::instrument_once]
        pub(crate) fn new() -> B {
            B
        }
    }

    #[instrument_once::instrument_once]
    impl From<u8> for A {
        fn from(_: u8) -> A {
            A
        }
    }

    #[instrument_once::instrument_once]
    impl From<u16> for A {
        fn from(_: u16) -> A {
            A
        }
    }

    pub(crate) fn outer_one() -> u32 {
        #[instrument_once::instrument_once]
        fn helper() -> u32 {
            1
        }
        helper()
    }

    pub(crate) fn outer_two() -> u32 {
        #[instrument_once::instrument_once]
        fn helper() -> u32 {
            2
        }
        helper()
    }
}

/// Every function is its own series: functions that share a qualified name
/// are told apart by their place, and no two samples have the same name and
/// labels.
#[test]
fn functions_sharing_a_name_are_separate_series() {
    let _ = (twice::A::new(), twice::B::new(), twice::A::from(1u8));
    let _ = twice::A::from(1u16);
    let _ = twice::A::from(2u16);
    assert_eq!(twice::outer_one() + twice::outer_two(), 3);
    let text = instrument_once::registry().snapshot().to_prometheus();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition format");
    let mut seen = std::collections::HashSet::new();
    for sample in &scrape.samples {
        let mut labels: Vec<_> = sample.labels.iter().collect();
        labels.sort();
        let key = format!("{} {labels:?}", sample.metric);
        assert!(seen.insert(key.clone()), "duplicate series: {key}");
    }
    for name in ["new", "A::from", "helper"] {
        let qualified = format!("{}::twice::{name}", module_path!());
        let functions: std::collections::BTreeSet<&str> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "instrument_once_calls_total")
            .filter_map(|s| s.labels.get("function"))
            .filter(|f| f.starts_with(&format!("{qualified} (")))
            .collect();
        assert_eq!(functions.len(), 2, "{name}: {functions:?}");
    }
    // Each series counts its own calls: `From<u16>` was called twice.
    let sites = instrument_once::registry().get_all(&format!("{}::twice::A::from", module_path!()));
    let calls: Vec<u64> = sites.iter().map(|s| s.stats().calls).collect();
    assert_eq!(calls, [1, 2]);
}

mod generated {
    //! Sites one macro call generates share their place (`line!()` is the
    //! call's): they are numbered.
    pub(crate) trait Handler {
        fn handle(&self) -> u32;
    }
    macro_rules! handlers {
        ($($t:ident),*) => {$(
            #[derive(Debug)]
            pub(crate) struct $t;
            impl Handler for $t {
                #[instrument_once::instrument_once]
                fn handle(&self) -> u32 { 1 }
            }
        )*};
    }
    handlers!(A, B, C);
}

#[test]
fn sites_one_macro_call_generates_are_separate_series() {
    use generated::Handler;
    let _ = (
        generated::A.handle(),
        generated::B.handle(),
        generated::C.handle(),
    );
    let reg = instrument_once::registry();
    let name = format!("{}::generated::handle", module_path!());
    let sites = reg.get_all(&name);
    assert_eq!(sites.len(), 3);
    let unique: std::collections::BTreeSet<String> =
        sites.iter().map(|s| s.unique_name()).collect();
    assert_eq!(unique.len(), 3, "{unique:?}");
    let found: std::collections::BTreeSet<*const instrument_once::Site> = unique
        .iter()
        .map(|n| std::ptr::from_ref(reg.get(n).unwrap()))
        .collect();
    assert_eq!(found.len(), 3, "each unique name finds its own site");
    let text = reg.snapshot().to_prometheus();
    let series = text
        .lines()
        .filter(|l| {
            l.starts_with("instrument_once_calls_total{")
                && l.contains(&name)
                && l.contains("result=\"ok\"")
        })
        .count();
    assert_eq!(series, 3, "{text}");
}
