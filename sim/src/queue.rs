//! The event queue: a binary heap of `(time, insertion sequence)` keys over a slab of payloads.
//!
//! Ordering by (time, seq) leaves no tie to chance. Payloads live in a slab so the heap moves only
//! 24-byte keys; a slot's generation lets a timer be cancelled in O(1) (the heap entry is skipped
//! when it surfaces).

use crate::time::Time;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// `time << 64 | seq`: one comparison orders by time, then insertion order.
    key: u128,
    slot: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap; reverse to pop the earliest.
        other.key.cmp(&self.key)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Slot<E> {
    generation: u32,
    event: Option<E>,
}

/// A handle to a queued event, valid until the event is popped or cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct EventHandle {
    pub slot: u32,
    pub generation: u32,
}

pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            live: 0,
        }
    }

    /// Events scheduled and not yet popped or cancelled.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Schedules `event` at `time`; events at equal times pop in insertion order.
    #[inline]
    pub fn push(&mut self, time: Time, event: E) -> EventHandle {
        let slot = match self.free.pop() {
            Some(s) => {
                let sl = &mut self.slots[s as usize];
                assert!(sl.event.is_none());
                sl.event = Some(event);
                s
            }
            None => {
                let s = u32::try_from(self.slots.len()).expect("more than 4 billion queued events");
                self.slots.push(Slot {
                    generation: 0,
                    event: Some(event),
                });
                s
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry {
            key: (u128::from(time) << 64) | u128::from(seq),
            slot,
        });
        self.live += 1;
        EventHandle {
            slot,
            generation: self.slots[slot as usize].generation,
        }
    }

    /// Cancels a queued event; returns it if it was still queued.
    pub fn cancel(&mut self, h: EventHandle) -> Option<E> {
        let sl = self.slots.get_mut(h.slot as usize)?;
        if sl.generation != h.generation {
            return None;
        }
        let ev = sl.event.take();
        if ev.is_some() {
            self.live -= 1;
        }
        ev
    }

    /// The time of the earliest live event.
    pub fn peek_time(&mut self) -> Option<Time> {
        while let Some(top) = self.heap.peek() {
            if self.slots[top.slot as usize].event.is_some() {
                return Some((top.key >> 64) as Time);
            }
            let top = *top;
            self.heap.pop();
            self.release(top.slot);
        }
        None
    }

    /// Removes and returns the earliest live event with its time and handle.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, EventHandle, E)> {
        while let Some(top) = self.heap.pop() {
            let sl = &mut self.slots[top.slot as usize];
            let generation = sl.generation;
            let ev = sl.event.take();
            self.release(top.slot);
            if let Some(ev) = ev {
                self.live -= 1;
                return Some((
                    (top.key >> 64) as Time,
                    EventHandle {
                        slot: top.slot,
                        generation,
                    },
                    ev,
                ));
            }
        }
        None
    }

    fn release(&mut self, slot: u32) {
        let sl = &mut self.slots[slot as usize];
        sl.generation = sl.generation.wrapping_add(1);
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(5, "b");
        q.push(3, "a");
        q.push(5, "c");
        q.push(1, "z");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(t, _, e)| (t, e))).collect();
        assert_eq!(order, vec![(1, "z"), (3, "a"), (5, "b"), (5, "c")]);
    }

    #[test]
    fn cancel_skips_and_stale_handles_do_nothing() {
        let mut q = EventQueue::new();
        let h = q.push(2, 'x');
        q.push(3, 'y');
        assert_eq!(q.cancel(h), Some('x'));
        assert_eq!(q.cancel(h), None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop().map(|(t, _, e)| (t, e)), Some((3, 'y')));
        // The slot of 'x' is reused; the old handle must not cancel the new event.
        let h2 = q.push(4, 'w');
        assert_eq!(q.cancel(h), None);
        assert_eq!(q.pop().map(|(_, _, e)| e), Some('w'));
        assert!(q.cancel(h2).is_none());
        assert!(q.pop().is_none());
    }
}
