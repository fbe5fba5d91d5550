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
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000097419846861"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000011585237503"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000137772468675"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000016384"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000194839693722"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000231704750059"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000027554493735"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000032768"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000389679387444"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000463409500118"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000551089874701"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000065536"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000779358774888"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0000926819000237"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00011021797494"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000131072"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000155871754978"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000185363800047"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00022043594988"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000262144"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000311743509955"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000370727600095"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000440871899761"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000524288"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000623487019911"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000741455200189"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.000881743799521"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.001048576"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00124697403982"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00148291040038"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00176348759904"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.002097152"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00249394807964"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00296582080076"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00352697519808"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.004194304"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00498789615928"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00593164160152"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00705395039617"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.008388608"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.00997579231857"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.011863283203"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0141079007923"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.016777216"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0199515846371"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0237265664061"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0282158015847"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.033554432"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0399031692743"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0474531328121"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0564316031693"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.067108864"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0798063385485"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.0949062656243"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.112863206339"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.134217728"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.159612677097"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.189812531249"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.225726412677"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.268435456"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.319225354194"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.379625062497"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.451452825355"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.536870912"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.638450708388"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.759250124994"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="0.90290565071"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.073741824"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.27690141678"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.51850024999"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="1.80581130142"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="2.147483648"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="2.55380283355"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="3.03700049998"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="3.61162260284"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="4.294967296"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="5.10760566711"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="6.07400099995"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="7.22324520568"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="8.589934592"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="10.2152113342"} 0
instrument_once_duration_seconds_bucket{function="prometheus::golden::lookup",le="12.1480019999"} 0
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
