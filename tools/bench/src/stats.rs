//! Sample statistics and formatting.

use std::time::Duration;

/// Timings of one measured operation (one sample per operation, or per batch divided by the
/// batch size).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<f64>,
}

impl Samples {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Duration) {
        self.nanos.push(d.as_nanos() as f64);
    }

    /// Adds a sample given in nanoseconds.
    #[cfg(test)]
    pub fn push_nanos(&mut self, nanos: f64) {
        self.nanos.push(nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.nanos.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Nearest-rank percentile (`p` in 0..=100), in nanoseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// The median (mean of the two middle samples for an even count), in nanoseconds.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn p99(&self) -> f64 {
        self.percentile(99.0)
    }

    pub fn min(&self) -> f64 {
        self.nanos.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.nanos.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    pub fn total(&self) -> f64 {
        self.nanos.iter().sum()
    }

    /// Throughput: operations per second over the summed time of all samples.
    pub fn ops_per_sec(&self) -> f64 {
        self.nanos.len() as f64 / (self.total() / 1e9)
    }
}

/// A duration in nanoseconds as a readable figure (ns, µs or ms, 3 significant-ish digits).
pub fn fmt_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "n/a".into();
    }
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        let us = ns / 1e3;
        if us < 10.0 {
            format!("{us:.2} µs")
        } else {
            format!("{us:.1} µs")
        }
    } else {
        let ms = ns / 1e6;
        if ms < 10.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.1} ms")
        }
    }
}

/// Operations per second, rounded.
pub fn fmt_rate(ops: f64) -> String {
    if !ops.is_finite() {
        return "n/a".into();
    }
    if ops >= 100.0 {
        let n = ops.round() as u64;
        // Thousands separator for readability.
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{ops:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut s = Samples::new();
        for i in 1..=100 {
            s.push_nanos(i as f64);
        }
        assert_eq!(s.median(), 50.5);
        assert_eq!(s.p99(), 99.0);
        assert_eq!(s.min(), 1.0);
        assert_eq!(s.max(), 100.0);
        assert_eq!(fmt_rate(12345.4), "12,345");
        assert_eq!(fmt_ns(65_400.0), "65.4 µs");
    }
}
