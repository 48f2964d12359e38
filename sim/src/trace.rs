//! The canonical trace (architecture invariant 8): every event is encoded to compact, stable
//! bytes and hashed with xxHash64; the same bytes are produced with or without `--out`. When
//! asked, events also stream to `trace.jsonl` (machine-readable) and `trace.txt` (for people).

use crate::ids::NodeId;
use crate::time::{Time, TraceTime};
use serde::Serialize;
use std::io::{self, Write};
use xxhash_rust::xxh64::Xxh64;

/// Record tags of the canonical encoding. Stable: changing one changes every trace hash.
pub mod tag {
    pub const BOOT: u8 = 1;
    pub const DELIVER: u8 = 2;
    pub const TIMER: u8 = 3;
    pub const SYNC_DONE: u8 = 4;
    pub const LINK_BROKEN: u8 = 5;
    pub const CLIENT_WAKE: u8 = 6;
    pub const CLIENT_TIMEOUT: u8 = 7;
    pub const FAULT: u8 = 8;
    pub const SEND: u8 = 9;
    pub const DROP: u8 = 10;
    pub const HISTORY: u8 = 11;
    pub const ROLE: u8 = 12;
    pub const NEMESIS: u8 = 13;
    pub const QUIET: u8 = 14;
    pub const SCHEDULED_OP: u8 = 15;
    pub const DROP_AT_DELIVERY: u8 = 16;
    pub const RESUMED: u8 = 17;
}

const FLUSH_AT: usize = 64 * 1024;

/// Encodes a value canonically (bincode 1.3, fixed-width little-endian, pinned in Cargo.lock).
#[inline]
pub fn encode<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // A zero-sized value encodes to nothing; skip the serializer (hot for benchmark models).
    if std::mem::size_of::<T>() == 0 {
        return;
    }
    // Serializing plain data into a Vec cannot fail; a failure means a type bincode cannot
    // encode (e.g. an unsized sequence), which is a programming error.
    bincode::serialize_into(out, value).expect("canonical encoding failed");
}

pub struct Trace {
    hasher: Xxh64,
    buf: Vec<u8>,
    bytes: u64,
    jsonl: Option<io::BufWriter<Box<dyn Write>>>,
    txt: Option<io::BufWriter<Box<dyn Write>>>,
    io_error: Option<io::Error>,
}

impl Trace {
    pub fn new(jsonl: Option<Box<dyn Write>>, txt: Option<Box<dyn Write>>) -> Self {
        Trace {
            hasher: Xxh64::new(0),
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            bytes: 0,
            jsonl: jsonl.map(|w| io::BufWriter::with_capacity(1 << 16, w)),
            txt: txt.map(|w| io::BufWriter::with_capacity(1 << 16, w)),
            io_error: None,
        }
    }

    /// The buffer to append one record's canonical bytes to; call [`Trace::commit`] after.
    #[inline]
    pub fn rec(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    #[inline]
    pub fn commit(&mut self) {
        if self.buf.len() >= FLUSH_AT {
            self.flush_hash();
        }
    }

    fn flush_hash(&mut self) {
        self.hasher.update(&self.buf);
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Appends a header: tag, time, and up to two ids.
    #[inline]
    pub fn header(&mut self, tag: u8, time: Time, a: u32, b: u32) {
        let buf = &mut self.buf;
        buf.push(tag);
        buf.extend_from_slice(&time.to_le_bytes());
        buf.extend_from_slice(&a.to_le_bytes());
        buf.extend_from_slice(&b.to_le_bytes());
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        let mut h = self.hasher.clone();
        h.update(&self.buf);
        h.digest()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes + self.buf.len() as u64
    }

    pub fn wants_json(&self) -> bool {
        self.jsonl.is_some()
    }

    pub fn wants_text(&self) -> bool {
        self.txt.is_some()
    }

    pub fn wants_notes(&self) -> bool {
        self.txt.is_some()
    }

    /// Writes one JSON line to `trace.jsonl`.
    pub fn json(&mut self, value: &impl Serialize) {
        if let Some(w) = self.jsonl.as_mut() {
            let r = serde_json::to_writer(&mut *w, value)
                .map_err(io::Error::from)
                .and_then(|_| w.write_all(b"\n"));
            if let Err(e) = r {
                self.io_error.get_or_insert(e);
            }
        }
    }

    /// Writes one line to `trace.txt`: `time  text`.
    pub fn text(&mut self, time: Time, text: std::fmt::Arguments) {
        if let Some(w) = self.txt.as_mut() {
            let r = writeln!(w, "{:>12}  {}", TraceTime(time).to_string(), text);
            if let Err(e) = r {
                self.io_error.get_or_insert(e);
            }
        }
    }

    /// A protocol's note in the readable trace.
    pub fn note(&mut self, time: Time, node: NodeId, text: &str) {
        self.text(time, format_args!("{node}     {text}"));
    }

    /// Flushes the writers; reports the first I/O error seen during the run.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.io_error.take() {
            return Err(e);
        }
        if let Some(w) = self.jsonl.as_mut() {
            w.flush()?;
        }
        if let Some(w) = self.txt.as_mut() {
            w.flush()?;
        }
        Ok(())
    }
}
