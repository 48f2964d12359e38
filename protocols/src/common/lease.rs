//! Leader leases under bounded clock drift (Raft dissertation §6.4.1; the same argument holds
//! for a Multi-Paxos leader): followers promise not to help another leader for `min` on their
//! clocks after they heard a round; the leader may rely on that for `min · (1 − ρ)/(1 + ρ)` on
//! its own clock from when it sent the round, ρ the drift bound.

/// The lease length on the leader's clock, given the followers' promise `min_ns` and the
/// drift bound in parts per million.
pub fn length(min_ns: u64, drift_bound_ppm: u64) -> u64 {
    let rho = u128::from(drift_bound_ppm.min(999_999));
    (u128::from(min_ns) * (1_000_000 - rho) / (1_000_000 + rho)) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn shrinks_with_drift() {
        assert_eq!(super::length(1000, 0), 1000);
        // 10% drift: 1000 · 0.9 / 1.1
        assert_eq!(super::length(1000, 100_000), 818);
        assert_eq!(super::length(1000, 5_000_000), 0);
    }
}
