//! Handler unit tests in the style of etcd's raft: one server, one message in, the effects it
//! asked for asserted (what it sends, whether it waits for the disk, what it persists). The
//! engine is not involved: `sim::testing::Recorder` stands in for it.

use super::log::{RaftDurable, RaftLog, RaftWrite};
use super::messages::{AppendEntries, AppendEntriesReply, Command, Entry, Msg};
use super::{Raft, RaftParams};
use sim::testing::{Effect, EffectsExt, Recorder};
use sim::{BugSet, NodeId, Protocol};

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);

/// Server n1 of three, booted from `durable`, with these planted bugs.
fn server(durable: &RaftDurable, bugs: &[&str]) -> (Recorder<Raft>, Raft) {
    let mut r = Recorder::<Raft>::new(N1, 3);
    r.bugs = BugSet::new(bugs.iter().map(|b| b.to_string()).collect());
    let node = r.boot(&RaftParams::default(), durable);
    r.take();
    (r, node)
}

/// A log of no-op entries with these terms.
fn log_of(terms: &[u64]) -> RaftLog {
    let mut l = RaftLog::default();
    for t in terms {
        l.append(*t, Command::Noop);
    }
    l
}

fn durable(term: u64, voted_for: Option<NodeId>, terms: &[u64]) -> RaftDurable {
    RaftDurable {
        term,
        voted_for,
        log: log_of(terms),
        ..RaftDurable::default()
    }
}

fn request_vote(term: u64, last_log_index: u64, last_log_term: u64) -> Msg {
    Msg::RequestVote {
        term,
        last_log_index,
        last_log_term,
    }
}

/// The single vote reply in `effects`: (granted, term, sent only after a sync).
fn vote_reply(effects: &[Effect<Raft>]) -> (bool, u64, bool) {
    let replies: Vec<_> = effects
        .sent()
        .into_iter()
        .filter_map(|(_, m, after_sync)| match m {
            Msg::RequestVoteReply { term, granted } => Some((*granted, *term, after_sync)),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "one vote reply expected: {effects:?}");
    replies[0]
}

fn append_reply(effects: &[Effect<Raft>]) -> (AppendEntriesReply, bool) {
    let replies: Vec<_> = effects
        .sent()
        .into_iter()
        .filter_map(|(_, m, after_sync)| match m {
            Msg::AppendEntriesReply(r) => Some((r.clone(), after_sync)),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "one append reply expected: {effects:?}");
    replies.into_iter().next().expect("one")
}

/// The vote written to disk last, if any HardState was written.
fn persisted_vote(effects: &[Effect<Raft>]) -> Option<(u64, Option<NodeId>)> {
    effects.persisted().into_iter().rev().find_map(|w| match w {
        RaftWrite::HardState { term, voted_for } => Some((*term, *voted_for)),
        _ => None,
    })
}

#[test]
fn grants_a_vote_to_an_up_to_date_candidate_and_persists_it_before_answering() {
    let (mut r, mut n1) = server(&RaftDurable::default(), &[]);
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N2, request_vote(1, 0, 0)));
    let (granted, term, after_sync) = vote_reply(&fx);
    assert!(granted && term == 1);
    // §5.2 / Figure 2: votedFor is on stable storage before the reply goes out.
    assert!(after_sync, "the vote reply must wait for the disk");
    assert_eq!(persisted_vote(&fx), Some((1, Some(N2))));
    assert_eq!(n1.voted_for(), Some(N2));
}

#[test]
fn votes_for_at_most_one_candidate_per_term() {
    let (mut r, mut n1) = server(&RaftDurable::default(), &[]);
    r.step(&mut n1, |p, cx| p.on_message(cx, N2, request_vote(1, 0, 0)));
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N3, request_vote(1, 0, 0)));
    let (granted, term, _) = vote_reply(&fx);
    assert!(!granted && term == 1, "a second candidate of term 1 gets no vote");
    assert_eq!(persisted_vote(&fx), None, "a refusal writes nothing");
    // The same candidate asking again (a retried RequestVote) is answered yes again.
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N2, request_vote(1, 0, 0)));
    assert!(vote_reply(&fx).0);
}

#[test]
fn a_restarted_server_remembers_whom_it_voted_for() {
    let (mut r, mut n1) = server(&durable(1, Some(N2), &[]), &[]);
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N3, request_vote(1, 0, 0)));
    assert!(!vote_reply(&fx).0, "votedFor survives the crash (§5.2)");
}

#[test]
fn refuses_a_candidate_whose_log_is_behind_unless_the_check_is_planted_out() {
    // n1 holds an entry of term 1; a candidate of term 2 with an empty log is behind (§5.4.1).
    let d = durable(1, None, &[1]);
    let (mut r, mut n1) = server(&d, &[]);
    r.mono_ns = RaftParams::default().election_timeout[1].0; // past the restart's quiet time
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N2, request_vote(2, 0, 0)));
    let (granted, term, _) = vote_reply(&fx);
    assert!(
        !granted,
        "§5.4.1: a candidate with a less up-to-date log gets no vote"
    );
    assert_eq!(term, 2, "but n1 adopts the higher term");
    // A candidate whose last entry has a higher term is more up to date, however short.
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N3, request_vote(2, 1, 2)));
    assert!(vote_reply(&fx).0);

    let (mut r, mut n1) = server(&d, &["no-up-to-date-check"]);
    r.mono_ns = RaftParams::default().election_timeout[1].0;
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N2, request_vote(2, 0, 0)));
    assert!(vote_reply(&fx).0, "the planted bug grants it");
}

#[test]
fn ignores_candidates_while_a_leader_was_heard_from_recently() {
    // Dissertation §4.2.3: a server that heard from a leader within the minimum election
    // timeout does not help depose it (leases rely on this).
    let (mut r, mut n1) = server(&RaftDurable::default(), &[]);
    let heartbeat = append(1, 0, 0, Vec::new(), 0);
    r.step(&mut n1, |p, cx| p.on_message(cx, N2, heartbeat));
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N3, request_vote(2, 0, 0)));
    let (granted, term, _) = vote_reply(&fx);
    assert!(!granted && term == 1, "still term 1: the candidate was ignored");
    r.mono_ns += RaftParams::default().election_timeout[0].0;
    let fx = r.step(&mut n1, |p, cx| p.on_message(cx, N3, request_vote(2, 0, 0)));
    assert!(
        vote_reply(&fx).0,
        "after a minimum election timeout of silence it votes"
    );
}

fn append(
    term: u64,
    prev_log_index: u64,
    prev_log_term: u64,
    entries: Vec<Entry>,
    leader_commit: u64,
) -> Msg {
    Msg::AppendEntries(AppendEntries {
        term,
        prev_log_index,
        prev_log_term,
        entries,
        leader_commit,
        read_round: 0,
        compact: 0,
    })
}

#[test]
fn rejects_append_entries_of_a_stale_term_at_once() {
    let (mut r, mut n1) = server(&durable(2, None, &[1]), &[]);
    let leader_log = log_of(&[1, 1]);
    let fx = r.step(&mut n1, |p, cx| {
        p.on_message(cx, N2, append(1, 1, 1, leader_log.slice(2, 1), 0))
    });
    let (reply, after_sync) = append_reply(&fx);
    assert!(
        !reply.success && reply.term == 2,
        "§5.1: the stale leader learns the newer term"
    );
    assert!(!after_sync, "a rejection depends on nothing new on disk");
    assert!(fx.persisted().is_empty());
    assert_eq!(n1.log().last_index(), 1);
}

#[test]
fn a_planted_bug_accepts_append_entries_of_a_stale_term() {
    let (mut r, mut n1) = server(&durable(2, None, &[1]), &["accept-stale-term-append"]);
    let leader_log = log_of(&[1, 1]);
    let fx = r.step(&mut n1, |p, cx| {
        p.on_message(cx, N2, append(1, 1, 1, leader_log.slice(2, 1), 0))
    });
    assert!(append_reply(&fx).0.success);
    assert_eq!(n1.log().last_index(), 2);
}

#[test]
fn appends_matching_entries_and_answers_once_they_are_durable() {
    let (mut r, mut n1) = server(&RaftDurable::default(), &[]);
    let leader_log = log_of(&[1, 1]);
    let fx = r.step(&mut n1, |p, cx| {
        p.on_message(cx, N2, append(1, 0, 0, leader_log.slice(1, 2), 1))
    });
    let (reply, after_sync) = append_reply(&fx);
    assert!(reply.success && reply.match_index == 2);
    assert!(
        after_sync,
        "the leader may count the entries only once they are on disk"
    );
    assert!(
        fx.persisted()
            .iter()
            .any(|w| matches!(w, RaftWrite::Append { first: 1, entries } if entries.len() == 2)),
        "the entries are written: {fx:?}"
    );
    assert_eq!(
        n1.commit_index(),
        1,
        "the leader's commit index, capped by what arrived"
    );
    assert_eq!(n1.leader_hint(), Some(N2));
}

#[test]
fn rejects_a_mismatched_previous_entry_with_a_hint_to_skip_its_term() {
    // n1 has [t1, t1]; the leader of term 3 expects index 2 to hold term 2.
    let (mut r, mut n1) = server(&durable(1, None, &[1, 1]), &[]);
    let fx = r.step(&mut n1, |p, cx| {
        p.on_message(cx, N2, append(3, 2, 2, Vec::new(), 0))
    });
    let (reply, _) = append_reply(&fx);
    assert!(!reply.success);
    assert_eq!(
        (reply.conflict_term, reply.conflict_index),
        (Some(1), 1),
        "the whole conflicting term 1 starts at index 1"
    );
    // Missing entries: the hint is the next index n1 lacks.
    let fx = r.step(&mut n1, |p, cx| {
        p.on_message(cx, N2, append(3, 5, 3, Vec::new(), 0))
    });
    let (reply, _) = append_reply(&fx);
    assert_eq!(
        (reply.success, reply.conflict_term, reply.conflict_index),
        (false, None, 3)
    );
}

#[test]
fn truncates_a_conflicting_suffix_and_takes_the_leaders_entries() {
    // §5.3 step 3: n1's entry 2 of term 1 conflicts with the leader's entry 2 of term 2.
    let (mut r, mut n1) = server(&durable(1, None, &[1, 1]), &[]);
    let leader_log = log_of(&[1, 2]);
    let fx = r.step(&mut n1, |p, cx| {
        p.on_message(cx, N2, append(2, 1, 1, leader_log.slice(2, 1), 0))
    });
    assert!(append_reply(&fx).0.success);
    assert!(
        fx.persisted()
            .iter()
            .any(|w| matches!(w, RaftWrite::TruncateFrom(2))),
        "the conflicting entry is removed on disk too: {fx:?}"
    );
    assert_eq!(n1.log().term_at(2), Some(2));
    assert_eq!(n1.log().chain_at(2), leader_log.chain_at(2));
}
