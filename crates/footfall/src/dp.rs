//! Differentially private release of a daily store report.
//!
//! Unit of privacy: one device at one store on one local day (the report
//! already counts each device once per day). Adding or removing a device
//! changes the count vector (visitors, passers-by, new/repeat/randomized,
//! dwell buckets, hours, check-ins) by at most 5 in L1 — a visitor moves
//! visitors, one of new/repeat/randomized, one bucket and one hour; a
//! passer-by moves one count; a phone that checks in at the kiosk moves
//! one of the two check-in counts, once a day (the device checks in at a
//! store at most once in 24 h; the server refuses a second check-in of
//! one pseudonym on one store-day) — and the clamped dwell sum by at most
//! [`DWELL_CAP_MIN`]. Both get
//! discrete Laplace noise from OpenDP (`make_laplace` on integer domains,
//! pure epsilon-DP); the cost is their sum (basic composition). Medians are
//! not released; means and rates are post-processing of noisy values.
//! Charging the cost to a budget is the caller's job.

use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_laplace;
use opendp::metrics::{AbsoluteDistance, L1Distance};

use crate::report::{DailyReport, DWELL_CAP_MIN};

/// L1 change of the count vector when one device is added or removed.
pub const COUNT_SENSITIVITY: i64 = 5;

/// How much privacy one store-day release spends, and how wide its intervals are.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpConfig {
    /// Epsilon spent on all counts of one store-day together.
    pub epsilon_counts: f64,
    /// Epsilon spent on the clamped dwell sum of one store-day.
    pub epsilon_dwell: f64,
    /// Coverage of the stated intervals, e.g. 0.95.
    pub confidence: f64,
}

impl Default for DpConfig {
    fn default() -> Self {
        Self {
            epsilon_counts: 0.5,
            epsilon_dwell: 0.5,
            confidence: 0.95,
        }
    }
}

/// Why a release could not be made; nothing was released.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DpError {
    /// An epsilon that is not finite and positive.
    #[error("epsilon must be finite and positive")]
    BadEpsilon,
    /// A confidence outside (0, 1).
    #[error("confidence must be strictly between 0 and 1")]
    BadConfidence,
    /// OpenDP refused to build or run the measurement; carries its message.
    #[error("OpenDP: {0}")]
    OpenDp(String),
}

impl From<opendp::error::Error> for DpError {
    fn from(e: opendp::error::Error) -> Self {
        DpError::OpenDp(e.variant.to_string())
    }
}

/// A noised integer with its noise scale and an interval that holds the
/// true value with probability `confidence`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Noisy {
    /// The noisy count.
    pub value: i64,
    /// Discrete Laplace scale b: P(noise = k) ∝ exp(-|k| / b).
    pub scale: f64,
    /// Lower end of the interval (inclusive).
    pub low: i64,
    /// Upper end of the interval (inclusive).
    pub high: i64,
}

impl Noisy {
    /// Whether the interval holds `truth` (for checking coverage).
    pub fn contains(&self, truth: i64) -> bool {
        self.low <= truth && truth <= self.high
    }
}

/// What an analyst (or the store's admin) sees for one store-day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpReport {
    /// Which store the figures are for.
    pub store_id: String,
    /// The store's local calendar day.
    pub day: jiff::civil::Date,
    /// Devices with at least one visit.
    pub visitors: Noisy,
    /// Devices seen that day without any visit.
    pub passers_by: Noisy,
    /// Visitors with a global MAC and no visit in the lookback.
    pub new_visitors: Noisy,
    /// Visitors with a global MAC seen on an earlier day within the lookback.
    pub repeat_visitors: Noisy,
    /// Visitors with a randomized MAC: neither new nor repeat.
    pub randomized_visitors: Noisy,
    /// Visitors per dwell bucket (see [`crate::report::DWELL_BUCKET_EDGES_MIN`]).
    pub dwell_buckets: [Noisy; 4],
    /// Visitors by the local hour their first visit began, 0 to 23.
    pub visitors_by_hour: Vec<Noisy>,
    /// Sum of whole dwell minutes, each visitor clamped to 240.
    pub dwell_min_clamped_sum: Noisy,
    /// Kiosk check-ins at trust level 0 or 1, no identifier (`None` in
    /// releases made before check-ins were counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkins_anonymous: Option<Noisy>,
    /// Kiosk check-ins under a pseudonym (level 2 and above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkins_pseudonymous: Option<Noisy>,
    /// Post-processed: noisy clamped sum / noisy visitors (None if visitors ≤ 0).
    pub mean_dwell_min_clamped: Option<f64>,
    /// Post-processed: noisy visitors / (noisy visitors + noisy passers-by), in [0, 1].
    pub capture_rate: Option<f64>,
    /// Coverage of every interval in the report, e.g. 0.95.
    pub confidence: f64,
    /// Privacy cost of this release (pure DP): charge it before it leaves.
    pub epsilon: f64,
}

/// Noise one exact report. Each call draws fresh noise and costs `epsilon`.
pub fn release(report: &DailyReport, cfg: &DpConfig) -> Result<DpReport, DpError> {
    let ok = |e: f64| e.is_finite() && e > 0.0;
    if !ok(cfg.epsilon_counts) || !ok(cfg.epsilon_dwell) {
        return Err(DpError::BadEpsilon);
    }
    if !(cfg.confidence > 0.0 && cfg.confidence < 1.0) {
        return Err(DpError::BadConfidence);
    }
    let r = report;
    let mut counts: Vec<i64> = vec![
        r.visitors as i64,
        r.passers_by as i64,
        r.new_visitors as i64,
        r.repeat_visitors as i64,
        r.randomized_visitors as i64,
    ];
    counts.extend(r.dwell_buckets.iter().map(|&c| c as i64));
    counts.extend(r.visitors_by_hour.iter().map(|&c| c as i64));
    counts.push(r.checkins_anonymous as i64);
    counts.push(r.checkins_pseudonymous as i64);

    let count_scale = COUNT_SENSITIVITY as f64 / cfg.epsilon_counts;
    let m_counts = make_laplace(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L1Distance::<i64>::default(),
        count_scale,
        None,
    )?;
    let eps_counts = m_counts.map(&COUNT_SENSITIVITY)?;
    let noisy = m_counts.invoke(&counts)?;

    let dwell_scale = DWELL_CAP_MIN as f64 / cfg.epsilon_dwell;
    let m_dwell = make_laplace(
        AtomDomain::<i64>::default(),
        AbsoluteDistance::<i64>::default(),
        dwell_scale,
        None,
    )?;
    let eps_dwell = m_dwell.map(&DWELL_CAP_MIN)?;
    let dwell = m_dwell.invoke(&(r.dwell_min_clamped_sum as i64))?;

    let cw = half_width(count_scale, cfg.confidence);
    let dw = half_width(dwell_scale, cfg.confidence);
    let wrap = |value: i64, scale: f64, w: i64| Noisy {
        value,
        scale,
        low: value.saturating_sub(w),
        high: value.saturating_add(w),
    };
    let c: Vec<Noisy> = noisy.iter().map(|&v| wrap(v, count_scale, cw)).collect();
    let visitors = c[0];
    let passers = c[1];
    let dwell = wrap(dwell, dwell_scale, dw);
    let seen = visitors.value.max(0) + passers.value.max(0);
    Ok(DpReport {
        store_id: r.store_id.clone(),
        day: r.day,
        visitors,
        passers_by: passers,
        new_visitors: c[2],
        repeat_visitors: c[3],
        randomized_visitors: c[4],
        dwell_buckets: [c[5], c[6], c[7], c[8]],
        visitors_by_hour: c[9..33].to_vec(),
        dwell_min_clamped_sum: dwell,
        checkins_anonymous: Some(c[33]),
        checkins_pseudonymous: Some(c[34]),
        mean_dwell_min_clamped: (visitors.value > 0).then(|| {
            (dwell.value.clamp(0, visitors.value * DWELL_CAP_MIN)) as f64 / visitors.value as f64
        }),
        capture_rate: (seen > 0).then(|| visitors.value.max(0) as f64 / seen as f64),
        confidence: cfg.confidence,
        epsilon: eps_counts + eps_dwell,
    })
}

/// Noise a run of days; the cost is the sum (one device may appear every day).
pub fn release_days(
    reports: &[DailyReport],
    cfg: &DpConfig,
) -> Result<(Vec<DpReport>, f64), DpError> {
    let out = reports
        .iter()
        .map(|r| release(r, cfg))
        .collect::<Result<Vec<_>, _>>()?;
    let eps = out.iter().map(|r| r.epsilon).sum();
    Ok((out, eps))
}

/// Smallest t with P(|X| > t) <= 1 - confidence for discrete Laplace
/// P(X = k) ∝ α^|k|, α = exp(-1/scale): P(|X| > t) = 2 α^(t+1) / (1 + α).
pub fn half_width(scale: f64, confidence: f64) -> i64 {
    let alpha = (-1.0 / scale).exp();
    if alpha <= 0.0 {
        return 0;
    }
    let tail = 1.0 - confidence;
    let t = ((tail * (1.0 + alpha) / 2.0).ln() / alpha.ln() - 1.0).ceil();
    t.max(0.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_width_matches_tail() {
        for &b in &[0.5, 1.0, 8.0, 480.0] {
            for &c in &[0.9, 0.95, 0.999] {
                let t = half_width(b, c);
                let a: f64 = (-1.0f64 / b).exp();
                let tail = |t: i64| 2.0 * a.powi((t + 1) as i32) / (1.0 + a);
                assert!(tail(t) <= 1.0 - c + 1e-12, "b={b} c={c} t={t}");
                if t > 0 {
                    assert!(tail(t - 1) > 1.0 - c, "not smallest: b={b} c={c} t={t}");
                }
            }
        }
    }

    #[test]
    fn cost_is_the_configured_epsilon() {
        let r = DailyReport::empty("s", jiff::civil::date(2026, 3, 23));
        let out = release(&r, &DpConfig::default()).unwrap();
        assert!((out.epsilon - 1.0).abs() < 1e-9, "{}", out.epsilon);
        assert_eq!(out.visitors_by_hour.len(), 24);
        assert!(out.checkins_anonymous.is_some() && out.checkins_pseudonymous.is_some());
        assert!(release(
            &r,
            &DpConfig {
                epsilon_counts: 0.0,
                ..Default::default()
            }
        )
        .is_err());
    }
}
