//! Running a campaign's cases in parallel (architecture invariant 9: parallel across runs only,
//! one run per thread) so that the answer never depends on `--jobs` or on which run finishes
//! first: cases are handed out in index order, and when the campaign stops at its first failure,
//! every case below the lowest failing one still runs, none above it starts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// How a case ended, as far as the campaign cares.
pub(crate) trait Finished {
    fn failed(&self) -> bool;
}

/// Runs cases `0..count` on `jobs` threads. `run(state, i)` runs case `i` with a per-thread
/// `state` made by `init` (a scenario parsed once per thread); `done(i, &outcome)` is called as
/// each finishes (progress, writing failures at once). With `stop_at_first`, cases above the
/// lowest failing one are not started (and any that ran are discarded). `stop` (Ctrl-C) stops
/// handing out cases; those running finish. Returns each case's outcome, `None` where it did
/// not run.
pub(crate) fn execute<S, O, I, R, D>(
    count: usize,
    jobs: usize,
    stop_at_first: bool,
    stop: &AtomicBool,
    init: I,
    run: R,
    done: D,
) -> Vec<Option<O>>
where
    O: Finished + Send,
    I: Fn() -> S + Sync,
    R: Fn(&mut S, usize) -> O + Sync,
    D: Fn(usize, &O) + Sync,
{
    let next = AtomicUsize::new(0);
    let lowest_failure = AtomicUsize::new(usize::MAX);
    let results: Mutex<Vec<Option<O>>> = Mutex::new((0..count).map(|_| None).collect());
    let worker = || {
        let mut state = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= count || (stop_at_first && i > lowest_failure.load(Ordering::SeqCst)) {
                return;
            }
            let s = state.get_or_insert_with(&init);
            let outcome = run(s, i);
            if outcome.failed() {
                lowest_failure.fetch_min(i, Ordering::SeqCst);
            }
            done(i, &outcome);
            results.lock().expect("no panic while holding the lock")[i] = Some(outcome);
        }
    };
    let jobs = jobs.clamp(1, count.max(1));
    if jobs == 1 {
        worker();
    } else {
        match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
            Ok(pool) => pool.scope(|s| {
                for _ in 0..jobs {
                    s.spawn(|_| worker());
                }
            }),
            // No threads to be had: the same answer, on this one.
            Err(_) => worker(),
        }
    }
    let mut results = results.into_inner().expect("no panic while holding the lock");
    let low = lowest_failure.load(Ordering::SeqCst);
    if stop_at_first && low != usize::MAX {
        for r in results.iter_mut().skip(low + 1) {
            *r = None;
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case(usize, bool);
    impl Finished for Case {
        fn failed(&self) -> bool {
            self.1
        }
    }

    fn run(jobs: usize, stop_at_first: bool) -> Vec<Option<usize>> {
        let stop = AtomicBool::new(false);
        let fails = |i: usize| i % 7 == 5 || i == 3;
        execute(
            40,
            jobs,
            stop_at_first,
            &stop,
            || (),
            |_, i| Case(i, fails(i)),
            |_, _| {},
        )
        .into_iter()
        .map(|r| r.map(|c| c.0))
        .collect()
    }

    #[test]
    fn the_answer_does_not_depend_on_the_number_of_threads() {
        for stop_at_first in [false, true] {
            let one = run(1, stop_at_first);
            for jobs in [2, 3, 8] {
                assert_eq!(run(jobs, stop_at_first), one, "jobs {jobs}");
            }
        }
        // Stopping at the first failure: cases 0..=3 ran, nothing after.
        let first = run(4, true);
        assert!(first[..4].iter().all(Option::is_some));
        assert!(first[4..].iter().all(Option::is_none));
        assert!(run(4, false).iter().all(Option::is_some));
    }

    #[test]
    fn a_stop_hands_out_nothing_more() {
        let stop = AtomicBool::new(false);
        let ran = execute(
            100,
            2,
            false,
            &stop,
            || (),
            |_, i| {
                if i == 10 {
                    stop.store(true, Ordering::SeqCst);
                }
                Case(i, false)
            },
            |_, _| {},
        );
        let n = ran.iter().filter(|r| r.is_some()).count();
        assert!((11..=13).contains(&n), "{n} cases ran after the stop at case 10");
    }
}
