//! The Prometheus protobuf exposition: length-delimited
//! `io.prometheus.client.MetricFamily` messages, with latencies as native
//! (exponential) histograms beside their classic buckets.
//!
//! The encoder is the handful of protobuf rules the format needs (varints,
//! zigzag, fixed 64-bit doubles, length-delimited fields), written out:
//! the schema is small and stable, and a code generator would add a build
//! dependency for five messages.
//!
//! # Native buckets
//!
//! The runtime's exponential buckets are in nanoseconds, scale 3: bucket `i`
//! holds `(2^(i/8), 2^((i+1)/8)]` ns. A native histogram of seconds with
//! schema 3 has bucket `j` holding `(2^((j-1)/8), 2^(j/8)]` s. A second is
//! `2^29.897` ns, not a whole number of eighth-octaves, so the two grids are
//! offset by 0.18 of a bucket: each bucket goes, whole, to the seconds
//! bucket that holds its upper bound (and 82% of its width): a shift of
//! 0.18 of a bucket upwards, so quantiles read about 1.6% (`2^(0.18/8)`)
//! high: finer than the buckets themselves (9%), and the same shift for
//! every process, so sums across instances stay exact.

use super::families::{families, Family, Kind, Value};
use super::{ExponentialHistogram, Snapshot};

/// The media type of this exposition (what a scrape's `Accept` names).
pub(crate) const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Native histograms' zero bucket width, in seconds: calls recorded as
/// 0 ns (the clock did not move) and nothing else (Prometheus' client
/// default).
const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        #[allow(clippy::cast_possible_truncation)] // the low seven bits
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)] // below 0x80
    out.push(n as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn uint(out: &mut Vec<u8>, field: u32, n: u64) {
    key(out, field, VARINT);
    varint(out, n);
}

/// A `sint32`/`sint64` field (zigzag).
fn sint(out: &mut Vec<u8>, field: u32, n: i64) {
    key(out, field, VARINT);
    #[allow(clippy::cast_sign_loss)] // zigzag
    varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

fn double(out: &mut Vec<u8>, field: u32, x: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&x.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, LEN);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A nested message, built by `fill`.
fn message(out: &mut Vec<u8>, field: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    bytes(out, field, &inner);
}

/// `MetricFamily.type`.
fn kind(kind: Kind) -> u64 {
    match kind {
        Kind::Counter => 0,
        Kind::Gauge => 1,
        Kind::Histogram => 4,
    }
}

/// Native buckets of seconds, schema `scale`, from buckets of nanoseconds:
/// `(schema, spans as (offset, length), deltas)` (see the module
/// documentation).
pub(crate) fn native(h: &ExponentialHistogram) -> (i32, Vec<(i32, u32)>, Vec<i64>) {
    // floor(log2(1e9) * 2^scale): how many buckets a second is above 1 ns.
    let per_octave = f64::from(1u32 << h.scale.clamp(0, 8));
    #[allow(clippy::cast_possible_truncation)] // below 2^12
    let shift = (1e9f64.log2() * per_octave).floor() as i32;
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous_count = 0i64;
    let mut previous_index: Option<i32> = None;
    for b in h.buckets.iter().filter(|b| b.count > 0) {
        let index = b.index + 1 - shift;
        match previous_index {
            Some(p) if index == p + 1 => {
                if let Some(last) = spans.last_mut() {
                    last.1 += 1;
                }
            }
            // The first span's offset is its first index; a later one's is
            // the gap after the span before it.
            Some(p) => spans.push((index - p - 1, 1)),
            None => spans.push((index, 1)),
        }
        let count = i64::try_from(b.count).unwrap_or(i64::MAX);
        deltas.push(count - previous_count);
        previous_count = count;
        previous_index = Some(index);
    }
    (h.scale, spans, deltas)
}

/// One `Metric`.
fn metric(out: &mut Vec<u8>, family: &Family, sample: &super::families::Sample) {
    for (name, value) in &sample.labels {
        message(out, 1, |pair| {
            bytes(pair, 1, name.as_bytes());
            bytes(pair, 2, value.as_bytes());
        });
    }
    #[allow(clippy::cast_precision_loss)] // counts below 2^53 are exact
    match (&sample.value, family.kind) {
        (Value::Count(n), Kind::Gauge) => message(out, 2, |g| double(g, 1, *n as f64)),
        (Value::Count(n), _) => message(out, 3, |c| double(c, 1, *n as f64)),
        (Value::Histogram(h), _) => message(out, 7, |m| {
            uint(m, 1, h.count);
            double(m, 2, h.sum);
            for (bound, n) in &h.buckets {
                message(m, 3, |b| {
                    uint(b, 1, *n);
                    double(b, 2, *bound);
                });
            }
            if let Some(exponential) = &h.native {
                let (schema, spans, deltas) = native(exponential);
                sint(m, 5, i64::from(schema));
                double(m, 6, ZERO_THRESHOLD);
                uint(m, 7, exponential.zero_count);
                for (offset, length) in spans {
                    message(m, 12, |s| {
                        sint(s, 1, i64::from(offset));
                        uint(s, 2, u64::from(length));
                    });
                }
                for delta in deltas {
                    sint(m, 13, delta);
                }
            }
        }),
    }
}

impl Snapshot {
    /// The snapshot in the Prometheus protobuf exposition
    /// (`application/vnd.google.protobuf;
    /// proto=io.prometheus.client.MetricFamily; encoding=delimited`): the
    /// families of [`Snapshot::to_prometheus`], latencies with native
    /// (exponential, schema 3) buckets beside the classic ones, so a
    /// Prometheus started with `--enable-feature=native-histograms` keeps
    /// the full resolution. [`crate::http`] chooses this format or
    /// the text one from a scrape's `Accept` header.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let bytes = instrument_once::registry().snapshot().to_prometheus_protobuf();
    /// // Length-delimited messages: a varint length (its last byte below
    /// // 0x80), then the first family, whose name is field 1.
    /// let length_bytes = bytes.iter().position(|b| *b < 0x80).unwrap() + 1;
    /// assert_eq!(bytes[length_bytes], 0x0A);
    /// # }
    /// ```
    pub fn to_prometheus_protobuf(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for family in families(self) {
            let mut encoded = Vec::new();
            bytes(&mut encoded, 1, family.name.as_bytes());
            bytes(&mut encoded, 2, family.help.as_bytes());
            uint(&mut encoded, 3, kind(family.kind));
            for sample in &family.samples {
                message(&mut encoded, 4, |m| metric(m, &family, sample));
            }
            varint(&mut out, encoded.len() as u64);
            out.extend_from_slice(&encoded);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExponentialBucket;

    #[test]
    fn varints_and_zigzag_follow_the_wire_format() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        let mut out = Vec::new();
        sint(&mut out, 1, -1);
        assert_eq!(out, [0x08, 0x01]);
        let mut out = Vec::new();
        sint(&mut out, 1, 1);
        assert_eq!(out, [0x08, 0x02]);
    }

    #[test]
    fn native_buckets_are_shifted_to_seconds_in_spans_and_deltas() {
        // 1 µs = 2^9.97 ns: bucket 79 holds (2^9.875, 2^10] ns.
        let h = ExponentialHistogram {
            scale: 3,
            zero_count: 0,
            buckets: vec![
                ExponentialBucket {
                    index: 79,
                    count: 3,
                },
                ExponentialBucket {
                    index: 80,
                    count: 5,
                },
                ExponentialBucket {
                    index: 83,
                    count: 1,
                },
            ],
        };
        let (schema, spans, deltas) = native(&h);
        assert_eq!(schema, 3);
        // log2(1e9) * 8 = 239.18: bucket i goes to seconds bucket i - 238.
        assert_eq!(spans, [(79 - 238, 2), (2, 1)]);
        assert_eq!(deltas, [3, 2, -4]);
        // The seconds bucket holds the nanosecond bucket's upper bound.
        let upper_s = 2f64.powf(80.0 / 8.0) / 1e9;
        let j = f64::from(79 - 238);
        assert!(2f64.powf((j - 1.0) / 8.0) < upper_s && upper_s <= 2f64.powf(j / 8.0));
    }
}
