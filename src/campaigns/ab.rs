//! A/B tests of a step's variants: the weighted split, and the winner by a
//! two-proportion z-test so that a difference the sample cannot tell from
//! noise never declares one.
//!
//! The leader (best observed rate) is compared with each other variant;
//! it wins when every comparison is significant at the configured
//! confidence (one-sided: "the leader's rate is higher"). With several
//! challengers the threshold is Bonferroni-corrected, so testing three
//! variants is not three chances to be fooled.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One variant's sends and successes (opens, clicks or replies).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Arm {
    pub variant_id: Uuid,
    pub sent: i64,
    pub successes: i64,
}

impl Arm {
    fn rate(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.successes as f64 / self.sent as f64
        }
    }
}

/// What a look at the numbers concluded, stored on the step and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Decision {
    pub arms: Vec<Arm>,
    /// The leader's one-sided p-value against its closest challenger.
    pub p_value: Option<f64>,
    /// Percent, as configured.
    pub confidence_pct: i32,
    pub winner: Option<Uuid>,
    /// Why there is (or is not yet) a winner, in words.
    pub reason: String,
}

/// The standard normal upper tail `P(Z > z)`, from `erfc` (W. J. Cody's
/// rational approximation as in Numerical Recipes, error below 1.2e-7).
fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// One-sided p-value that `a`'s rate exceeds `b`'s (pooled z-test).
pub(crate) fn p_value(a: &Arm, b: &Arm) -> f64 {
    if a.sent == 0 || b.sent == 0 {
        return 1.0;
    }
    let pooled = (a.successes + b.successes) as f64 / (a.sent + b.sent) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / a.sent as f64 + 1.0 / b.sent as f64)).sqrt();
    if se == 0.0 {
        // Identical all-or-nothing rates: no evidence either way.
        return 1.0;
    }
    upper_tail((a.rate() - b.rate()) / se)
}

/// Decides the test: `ready` says the sample is complete (every variant has
/// its minimum sends, or the decision time has come).
pub(crate) fn decide(arms: Vec<Arm>, confidence_pct: i32, ready: bool) -> Decision {
    let alpha = 1.0 - f64::from(confidence_pct.clamp(50, 99)) / 100.0;
    let mut decision = Decision {
        arms,
        p_value: None,
        confidence_pct,
        winner: None,
        reason: String::new(),
    };
    if !ready {
        decision.reason = "collecting sends: not every variant has its minimum yet".into();
        return decision;
    }
    let Some(leader) = decision
        .arms
        .iter()
        .copied()
        .max_by(|a, b| a.rate().total_cmp(&b.rate()))
    else {
        decision.reason = "no variants".into();
        return decision;
    };
    let challengers: Vec<Arm> = decision
        .arms
        .iter()
        .copied()
        .filter(|arm| arm.variant_id != leader.variant_id)
        .collect();
    if challengers.is_empty() {
        decision.winner = Some(leader.variant_id);
        decision.reason = "only one variant".into();
        return decision;
    }
    let threshold = alpha / challengers.len() as f64;
    let worst = challengers
        .iter()
        .map(|c| p_value(&leader, c))
        .fold(0.0_f64, f64::max);
    decision.p_value = Some(worst);
    if worst < threshold {
        decision.winner = Some(leader.variant_id);
        decision.reason = format!(
            "the leader's rate is higher than every other variant's at {confidence_pct}% confidence"
        );
    } else {
        decision.reason = format!(
            "the difference is not significant at {confidence_pct}% confidence (p = {worst:.4}); \
             the split goes on"
        );
    }
    decision
}

/// Picks a variant by weight for an enrollment: the same enrollment and
/// step always get the same variant (a retried batch sends what the first
/// try chose), and across enrollments the split follows the weights.
pub(crate) fn pick(enrollment_id: Uuid, step_id: Uuid, weights: &[(Uuid, u32)]) -> Option<Uuid> {
    let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return weights.first().map(|(id, _)| *id);
    }
    // FNV-1a over both ids: cheap, stable across releases and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in enrollment_id.as_bytes().iter().chain(step_id.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut point = hash % total;
    for (id, weight) in weights {
        if point < u64::from(*weight) {
            return Some(*id);
        }
        point -= u64::from(*weight);
    }
    weights.last().map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(n: u128, sent: i64, successes: i64) -> Arm {
        Arm {
            variant_id: Uuid::from_u128(n),
            sent,
            successes,
        }
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-6);
        assert!((upper_tail(1.644_854) - 0.05).abs() < 1e-5);
        assert!((upper_tail(2.326_348) - 0.01).abs() < 1e-5);
        assert!((upper_tail(-1.959_964) - 0.975).abs() < 1e-5);
    }

    #[test]
    fn a_clear_difference_declares_the_leader() {
        let d = decide(vec![arm(1, 500, 150), arm(2, 500, 100)], 95, true);
        assert_eq!(d.winner, Some(Uuid::from_u128(1)));
        assert!(d.p_value.unwrap() < 0.001);
    }

    #[test]
    fn noise_declares_no_winner() {
        // 22% against 20% on 200 each: p ≈ 0.31.
        let d = decide(vec![arm(1, 200, 44), arm(2, 200, 40)], 95, true);
        assert_eq!(d.winner, None);
        assert!(d.p_value.unwrap() > 0.2, "{d:?}");
        assert!(d.reason.contains("not significant"));
    }

    #[test]
    fn no_decision_before_the_sample_is_complete() {
        let d = decide(vec![arm(1, 500, 400), arm(2, 5, 0)], 95, false);
        assert_eq!(d.winner, None);
        assert_eq!(d.p_value, None);
    }

    #[test]
    fn three_variants_need_the_corrected_threshold() {
        // p ≈ 0.03 against each challenger: enough for two variants at
        // 95%, not for three (0.05 / 2 = 0.025).
        let two = decide(vec![arm(1, 400, 100), arm(2, 400, 78)], 95, true);
        assert!(two.winner.is_some(), "{two:?}");
        let three = decide(
            vec![arm(1, 400, 100), arm(2, 400, 78), arm(3, 400, 78)],
            95,
            true,
        );
        assert_eq!(three.winner, None, "{three:?}");
    }

    #[test]
    fn the_split_follows_the_weights_and_is_stable() {
        let step = Uuid::now_v7();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let weights = [(a, 3), (b, 1)];
        let mut picked_a = 0;
        for _ in 0..4_000 {
            let enrollment = Uuid::new_v4();
            let first = pick(enrollment, step, &weights).unwrap();
            assert_eq!(pick(enrollment, step, &weights), Some(first));
            if first == a {
                picked_a += 1;
            }
        }
        // 75% ± a wide margin.
        assert!((2_800..3_200).contains(&picked_a), "{picked_a}");
    }
}
