//! The space-time (Lamport) message diagram: one vertical lane per server, time flowing down,
//! one row per engine event shown; each message an arrow from its send to its delivery
//! (a dropped one dashed, ending in ✕), message kinds written at the sender, role changes,
//! timers, boots and faults written beside the lane. By default it shows the causal slice of
//! the first violation (what `violation.txt` lists), else the first events of the run or a
//! `--window`; at most [`MAX_ROWS`] rows.

use super::{draw_err, ReportError};
use crate::causal::{Item, Slice, What};
use crate::plots::{fault_color, role_color, Area, Plot, GREY_, RED_};
use crate::run::{node_number, Run};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

/// Most rows (engine events) a diagram shows.
pub const MAX_ROWS: usize = 160;
const ROW: i32 = 22;
const COL: i32 = 160;
const LEFT: i32 = 165;
/// Room right of the lanes for the network's faults.
const RIGHT: i32 = 250;
const TOP: i32 = 70;

pub struct Diagram {
    pub title: String,
    pub lanes: Vec<String>,
    pub items: Vec<Item>,
    /// The failing check and the event after which it failed, drawn as the last row.
    pub failure: Option<(String, u64, u64)>,
    /// Rows left out beyond [`MAX_ROWS`].
    pub cut: usize,
}

/// Server lanes in order: the run's nodes, else those the items mention.
fn lanes_of(run: &Run, items: &[Item]) -> Vec<String> {
    let mut lanes = run.nodes();
    if lanes.is_empty() {
        for it in items {
            let names: Vec<&String> = match &it.what {
                What::Message { from, to, .. } => vec![from, to],
                What::Role { node, .. } | What::Timer { node, .. } | What::Boot { node, .. } => vec![node],
                What::Fault { node: Some(n), .. } => vec![n],
                What::Fault { node: None, .. } => vec![],
            };
            for n in names {
                if !lanes.contains(n) {
                    lanes.push(n.clone());
                }
            }
        }
        lanes.sort_by_key(|n| node_number(n));
    }
    lanes
}

impl Diagram {
    /// The diagram of a violation's causal slice.
    pub fn of_slice(run: &Run, slice: &Slice) -> Diagram {
        let mut d = Diagram {
            title: format!(
                "messages in the causal past of event {} (where `{}` fails), oldest first",
                slice.event, slice.check
            ),
            lanes: lanes_of(run, &slice.items),
            items: slice.items.clone(),
            failure: Some((slice.check.clone(), slice.event, slice.time_ns)),
            cut: 0,
        };
        d.bound();
        d
    }

    /// The diagram of the run's window lines (messages between servers only).
    pub fn of_window(run: &Run) -> Diagram {
        let mut sends: BTreeMap<u64, (u64, u64, serde_json::Value)> = BTreeMap::new();
        let mut items = Vec::new();
        let is_node = |s: &str| node_number(s) != u64::MAX;
        for l in &run.window_lines {
            let v = &l.v;
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let id = v["id"].as_u64().unwrap_or(0);
            let what = match v["ev"].as_str().unwrap_or("") {
                "send" => {
                    sends.insert(id, (l.event, l.t, v["msg"].clone()));
                    continue;
                }
                ev @ ("deliver" | "drop") => {
                    if !is_node(&s("from")) || !is_node(&s("to")) {
                        continue;
                    }
                    let sent = sends.get(&id);
                    let msg = sent.map(|x| x.2.clone()).unwrap_or_else(|| v["msg"].clone());
                    What::Message {
                        from: s("from"),
                        to: s("to"),
                        kind: crate::export::msg_label(&msg),
                        dropped: ev == "drop",
                        send: sent.map(|x| (x.0, x.1)),
                    }
                }
                "becomes" => What::Role {
                    node: s("node"),
                    role: s("role"),
                },
                "timer" => What::Timer {
                    node: s("node"),
                    detail: s("detail"),
                },
                "fault" if v.get("kind").is_some() => What::Fault {
                    node: v["node"].as_str().map(str::to_string),
                    detail: s("detail"),
                },
                ev if ev.starts_with("start") || ev.starts_with("restart") => What::Boot {
                    node: s("node"),
                    how: ev.to_string(),
                },
                _ => continue,
            };
            items.push(Item {
                event: l.event,
                t: l.t,
                what,
                text: String::new(),
            });
        }
        let (a, b) = run.window.unwrap_or((0, run.end_ns));
        let mut d = Diagram {
            title: if b == u64::MAX {
                "messages between servers from the start of the run".to_string()
            } else {
                format!(
                    "messages between servers from {} to {} ms",
                    crate::plots::num(a as f64 / 1e6),
                    crate::plots::num(b as f64 / 1e6)
                )
            },
            lanes: lanes_of(run, &items),
            items,
            failure: None,
            cut: 0,
        };
        d.bound();
        d
    }

    /// Rows: each distinct (event, time) of an item or of a shown message's send.
    fn rows(&self) -> Vec<(u64, u64)> {
        let mut rows: Vec<(u64, u64)> = Vec::new();
        for it in &self.items {
            rows.push((it.event, it.t));
            if let What::Message { send: Some(s), .. } = &it.what {
                rows.push(*s);
            }
        }
        rows.sort();
        rows.dedup();
        rows
    }

    /// Keeps the last MAX_ROWS rows (the end is where the violation is).
    fn bound(&mut self) {
        loop {
            let rows = self.rows();
            if rows.len() <= MAX_ROWS {
                return;
            }
            let from = if self.failure.is_some() {
                rows[rows.len() - MAX_ROWS]
            } else {
                (0, 0)
            };
            let to = if self.failure.is_some() {
                (u64::MAX, u64::MAX)
            } else {
                rows[MAX_ROWS - 1]
            };
            let before = self.items.len();
            self.items.retain(|it| {
                let k = (it.event, it.t);
                let send_ok = match &it.what {
                    What::Message { send: Some(s), .. } => *s >= from && *s <= to,
                    _ => true,
                };
                k >= from && k <= to && send_ok
            });
            self.cut += before - self.items.len();
        }
    }
}

/// A colour per message kind, stable across diagrams.
fn kind_color(kind: &str) -> RGBColor {
    use crate::plots::{BLUE_, BROWN_, GREEN_, OLIVE_, ORANGE_, PINK_, PURPLE_, TEAL_};
    const P: [RGBColor; 8] = [BLUE_, GREEN_, PURPLE_, BROWN_, TEAL_, OLIVE_, PINK_, ORANGE_];
    let h = kind
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    P[(h % P.len() as u32) as usize]
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

impl Plot for Diagram {
    fn name(&self) -> &'static str {
        "messages"
    }
    fn size(&self) -> (u32, u32) {
        let rows = self.rows().len() as i32 + i32::from(self.failure.is_some());
        let w = LEFT + COL * self.lanes.len().max(1) as i32 + RIGHT;
        ((w.max(700)) as u32, (TOP + ROW * rows + 70) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        let e = draw_err("messages");
        root.fill(&WHITE).map_err(&e)?;
        let (w, h) = self.size();
        let rows = self.rows();
        let row_of: BTreeMap<(u64, u64), usize> = rows.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        let y = |r: usize| TOP + ROW * r as i32 + ROW / 2;
        let x = |lane: &str| -> Option<i32> {
            let i = self.lanes.iter().position(|l| l == lane)?;
            Some(LEFT + COL * i as i32 + COL / 2)
        };
        let title = ("sans-serif", 17).into_font().color(&BLACK);
        root.draw(&Text::new(self.title.clone(), (12, 10), title))
            .map_err(&e)?;
        let sub = ("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80));
        let mut note =
            "time flows down; one row per engine event; → delivered, ⇢✕ dropped; kinds at the sender"
                .to_string();
        if self.cut > 0 {
            note.push_str(&format!("; {} earlier lines left out", self.cut));
        }
        root.draw(&Text::new(note, (12, 32), sub.clone())).map_err(&e)?;
        let bottom = y(rows.len().max(1)) + i32::from(self.failure.is_some()) * ROW;
        // Lanes, greyed while the node is down.
        let head = ("sans-serif", 14).into_font().color(&BLACK);
        for lane in &self.lanes {
            let lx = x(lane).unwrap_or(0);
            root.draw(&Text::new(
                lane.clone(),
                (lx, TOP - 14),
                head.clone().pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(&e)?;
            root.draw(&PathElement::new(
                vec![(lx, TOP - 4), (lx, bottom)],
                GREY_.stroke_width(1),
            ))
            .map_err(&e)?;
        }
        let mut down_from: BTreeMap<&str, usize> = BTreeMap::new();
        let mut down: Vec<(&str, usize, usize)> = Vec::new();
        for it in &self.items {
            let r = row_of[&(it.event, it.t)];
            match &it.what {
                What::Fault {
                    node: Some(n),
                    detail,
                } if detail.starts_with("crash") || detail.starts_with("power") => {
                    down_from.insert(n.as_str(), r);
                }
                What::Boot { node, .. } => {
                    if let Some(from) = down_from.remove(node.as_str()) {
                        down.push((node.as_str(), from, r));
                    }
                }
                _ => {}
            }
        }
        for (n, r) in &down_from {
            down.push((n, *r, rows.len()));
        }
        for (n, a, b) in down {
            if let Some(lx) = x(n) {
                root.draw(&Rectangle::new(
                    [(lx - 4, y(a)), (lx + 4, y(b))],
                    RGBColor(215, 215, 215).filled(),
                ))
                .map_err(&e)?;
            }
        }
        // Time labels, where the time changes.
        let tfont = ("sans-serif", 11).into_font().color(&RGBColor(90, 90, 90));
        let mut last_t = None;
        for (r, (_, t)) in rows.iter().enumerate() {
            if last_t != Some(*t) {
                root.draw(&Text::new(
                    format!("{:.3} ms", *t as f64 / 1e6),
                    (70, y(r)),
                    tfont.clone().pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(&e)?;
                last_t = Some(*t);
            }
        }
        // Arrows.
        let mut sent_labels: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
        for it in &self.items {
            let What::Message {
                from,
                to,
                kind,
                dropped,
                send,
            } = &it.what
            else {
                continue;
            };
            let (Some(x0), Some(x1)) = (x(from), x(to)) else {
                continue;
            };
            let r1 = row_of[&(it.event, it.t)];
            let r0 = send.map_or(r1, |s| row_of[&s]);
            let (y0, y1) = (y(r0), y(r1));
            let c = if *dropped { RED_ } else { kind_color(kind) };
            if *dropped {
                // Dashed toward the receiver, stopping two thirds of the way, then ✕.
                let (ex, ey) = (x0 + (x1 - x0) * 2 / 3, y0 + (y1 - y0) * 2 / 3);
                let steps = 10;
                for k in (0..steps).step_by(2) {
                    let p = |k: i32| (x0 + (ex - x0) * k / steps, y0 + (ey - y0) * k / steps);
                    root.draw(&PathElement::new(vec![p(k), p(k + 1)], c.stroke_width(1)))
                        .map_err(&e)?;
                }
                for (dx, dy) in [(-4, -4), (-4, 4)] {
                    root.draw(&PathElement::new(
                        vec![(ex + dx, ey + dy), (ex - dx, ey - dy)],
                        c.stroke_width(2),
                    ))
                    .map_err(&e)?;
                }
            } else {
                root.draw(&PathElement::new(vec![(x0, y0), (x1, y1)], c.stroke_width(1)))
                    .map_err(&e)?;
                // Arrowhead at the receiver.
                let (dx, dy) = ((x1 - x0) as f64, (y1 - y0) as f64);
                let len = (dx * dx + dy * dy).sqrt().max(1.0);
                let (ux, uy) = (dx / len, dy / len);
                let p = |a: f64, b: f64| {
                    (
                        (x1 as f64 - ux * a - uy * b) as i32,
                        (y1 as f64 - uy * a + ux * b) as i32,
                    )
                };
                root.draw(&Polygon::new(
                    vec![(x1, y1), p(9.0, 4.0), p(9.0, -4.0)],
                    c.filled(),
                ))
                .map_err(&e)?;
            }
            let k = sent_labels.entry((r0, from.clone())).or_default();
            if !k.contains(kind) {
                k.push(kind.clone());
            }
        }
        // Notes beside the lanes: what was sent (right), what happened (left).
        let font = ("sans-serif", 11).into_font();
        for ((r, from), kinds) in &sent_labels {
            let Some(lx) = x(from) else { continue };
            let text = short(&kinds.join(", "), 24);
            let c = if kinds.len() == 1 {
                kind_color(&kinds[0])
            } else {
                BLACK
            };
            root.draw(&Text::new(
                text,
                (lx + 6, y(*r) - 6),
                font.clone().color(&c).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(&e)?;
        }
        let mut left: BTreeMap<(usize, String), Vec<(String, RGBColor)>> = BTreeMap::new();
        for it in &self.items {
            let r = row_of[&(it.event, it.t)];
            let (lane, text, c) = match &it.what {
                What::Role { node, role } => (node.clone(), role.clone(), role_color(role)),
                What::Timer { node, detail } => (node.clone(), format!("timer {detail}"), GREY_),
                What::Boot { node, how } => (
                    node.clone(),
                    if how.starts_with("restart") {
                        "restarts".into()
                    } else {
                        short(how, 20)
                    },
                    BLACK,
                ),
                What::Fault {
                    node: Some(n),
                    detail,
                } => (
                    n.clone(),
                    format!("!! {}", short(detail, 20)),
                    fault_color(detail.split_whitespace().next().unwrap_or("")),
                ),
                What::Fault { node: None, detail } => {
                    // The network's faults span every lane: a band across the row.
                    let (x0, x1) = (LEFT + 10, LEFT + COL * self.lanes.len() as i32);
                    let c = fault_color(if detail.starts_with("cut") {
                        "cut"
                    } else if detail.starts_with("partition") {
                        "partition"
                    } else {
                        "heal"
                    });
                    root.draw(&Rectangle::new(
                        [(x0, y(r) - ROW / 2 + 2), (x1, y(r) + ROW / 2 - 2)],
                        c.mix(0.15).filled(),
                    ))
                    .map_err(&e)?;
                    root.draw(&Text::new(
                        format!("!! {detail}"),
                        (x1 + 6, y(r)),
                        font.clone().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(&e)?;
                    continue;
                }
                What::Message { .. } => continue,
            };
            left.entry((r, lane)).or_default().push((text, c));
        }
        for ((r, lane), notes) in left {
            let Some(lx) = x(&lane) else { continue };
            let text = short(
                &notes.iter().map(|n| n.0.as_str()).collect::<Vec<_>>().join(", "),
                24,
            );
            let c = if notes.len() == 1 { notes[0].1 } else { BLACK };
            root.draw(&Circle::new((lx, y(r)), 3, c.filled())).map_err(&e)?;
            root.draw(&Text::new(
                text,
                (lx - 7, y(r)),
                font.clone().color(&c).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(&e)?;
        }
        if let Some((check, event, t)) = &self.failure {
            let fy = y(rows.len());
            root.draw(&PathElement::new(
                vec![(80, fy), (w as i32 - RIGHT, fy)],
                RED_.stroke_width(2),
            ))
            .map_err(&e)?;
            root.draw(&Text::new(
                format!("`{check}` fails after event {event} at {:.3} ms", *t as f64 / 1e6),
                (LEFT, fy + 14),
                ("sans-serif", 13)
                    .into_font()
                    .color(&RED_)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(&e)?;
        }
        let _ = h;
        Ok(())
    }
}
