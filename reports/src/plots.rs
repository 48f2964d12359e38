//! The plots of one run, each drawn on any plotters backend (SVG text, or a PNG bitmap with
//! the bundled font): latency CDF per operation type, throughput with the fault intervals as
//! labelled bands, each node's roles over time (grouped by node group) with its faults, and
//! the minimal failing operations of a non-linearizable history per client.

use super::{draw_err, ReportError};
use crate::run::{Fault, Outcome, Run};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

pub type Area<DB> = DrawingArea<DB, Shift>;

/// A plot that draws on any backend.
pub trait Plot {
    /// The file's base name (`throughput`) and its title.
    fn name(&self) -> &'static str;
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError>;
}

/// The plot as SVG text.
pub fn svg<P: Plot>(p: &P) -> Result<String, ReportError> {
    register_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, p.size()).into_drawing_area();
        p.draw(&root)?;
        root.present().map_err(draw_err("an SVG plot"))?;
    }
    Ok(out)
}

/// The font of PNG plots, bundled so a fresh machine needs nothing installed (DejaVu Sans;
/// its license is `reports/assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Every plot's text is laid out with this font, SVG too (so labels fit the same way).
pub(crate) fn register_font() -> Result<(), ReportError> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok =
        *ONCE.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Draw {
            what: "a PNG plot",
            message: "the bundled font could not be loaded".into(),
        })
    }
}

/// The plot as a PNG image (RGB, 8 bits), text in the bundled font.
pub fn png<P: Plot>(p: &P) -> Result<Vec<u8>, ReportError> {
    register_font()?;
    let (w, h) = p.size();
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        p.draw(&root)?;
        root.present().map_err(draw_err("a PNG plot"))?;
    }
    let mut out = Vec::new();
    let e = draw_err("encoding a PNG");
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(&e)?;
    writer.write_image_data(&pixels).map_err(&e)?;
    writer.finish().map_err(&e)?;
    Ok(out)
}

/// The named colours of every plot: the sweep plots' palette (`cdf::PALETTE`).
pub const BLUE_: RGBColor = crate::cdf::PALETTE[0];
pub const ORANGE_: RGBColor = crate::cdf::PALETTE[1];
pub const GREEN_: RGBColor = crate::cdf::PALETTE[2];
pub const RED_: RGBColor = crate::cdf::PALETTE[3];
pub const PURPLE_: RGBColor = crate::cdf::PALETTE[4];
pub const BROWN_: RGBColor = crate::cdf::PALETTE[5];
pub const PINK_: RGBColor = crate::cdf::PALETTE[6];
pub const GREY_: RGBColor = crate::cdf::PALETTE[7];
pub const OLIVE_: RGBColor = crate::cdf::PALETTE[8];
pub const TEAL_: RGBColor = crate::cdf::PALETTE[9];

/// Simulated time on an axis: ms for short spans, s otherwise.
#[derive(Clone, Copy)]
pub struct TimeAxis {
    pub div: f64,
    pub unit: &'static str,
}

impl TimeAxis {
    pub fn for_span(ns: u64) -> TimeAxis {
        if ns <= 3_000_000_000 {
            TimeAxis { div: 1e6, unit: "ms" }
        } else {
            TimeAxis { div: 1e9, unit: "s" }
        }
    }
    pub fn x(&self, ns: u64) -> f64 {
        ns as f64 / self.div
    }
    pub fn label(&self) -> String {
        format!("simulated time ({})", self.unit)
    }
}

/// Each fault kind's colour, shared by every plot and the HTML report.
pub fn fault_color(kind: &str) -> RGBColor {
    match kind {
        "crash" | "power-loss" => GREY_,
        "pause" => PURPLE_,
        "partition" => ORANGE_,
        "cut" => OLIVE_,
        "slow-disk" => BROWN_,
        "clock-jump" => TEAL_,
        k if k.starts_with("client") => PINK_,
        _ => RED_,
    }
}

/// A role's colour.
pub fn role_color(role: &str) -> RGBColor {
    match role {
        "leader" | "server" | "primary" | "head" | "controller" => RED_,
        "candidate" | "looking" | "idle" => ORANGE_,
        "view-service" | "master" => BROWN_,
        "down" => RGBColor(215, 215, 215),
        "follower" | "standby" | "backup" => BLUE_,
        _ => GREEN_,
    }
}

/// Text width in pixels, roughly, for a sans-serif font of `size` px.
fn text_px(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.56
}

/// Short label of a fault for a band: `crash n1`, `partition {n1,n2} | {n3}` cut to 32 chars.
pub fn fault_label(f: &Fault) -> String {
    let d = f.detail.as_str();
    if d.chars().count() > 32 {
        format!("{}…", d.chars().take(31).collect::<String>())
    } else {
        d.to_string()
    }
}

/// Greedy lanes for labels starting at `starts` (px) with `widths` (px): each label goes
/// in the first lane whose last label ended before it starts; None when `lanes` are full.
fn pack(items: &[(f64, f64)], lanes: usize) -> Vec<Option<usize>> {
    let mut ends = vec![f64::MIN; lanes];
    items
        .iter()
        .map(|(start, width)| {
            if !start.is_finite() || *start == f64::MAX {
                return None;
            }
            let lane = ends.iter().position(|e| *e + 6.0 < *start)?;
            ends[lane] = start + width;
            Some(lane)
        })
        .collect()
}

/// A row of coloured boxes with names, drawn in `area` (a strip under a chart).
fn legend_strip<DB: DrawingBackend>(
    area: &Area<DB>,
    items: &[(String, RGBColor)],
) -> Result<(), ReportError> {
    let e = draw_err("a legend");
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    let (w, _) = area.dim_in_pixel();
    let mut x = 70i32;
    let mut y = 6i32;
    for (name, c) in items {
        let width = 22 + text_px(name, 13.0) as i32 + 18;
        if x + width > w as i32 - 10 {
            x = 70;
            y += 20;
        }
        area.draw(&Rectangle::new([(x, y + 2), (x + 14, y + 14)], c.filled()))
            .map_err(&e)?;
        area.draw(&Text::new(name.clone(), (x + 20, y + 1), font.clone()))
            .map_err(&e)?;
        x += width;
    }
    Ok(())
}

/// Legend entries of the fault kinds present.
fn fault_kinds(faults: &[Fault]) -> Vec<(String, RGBColor)> {
    let mut kinds: Vec<&str> = faults.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|k| (k.to_string(), fault_color(k)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Latency CDF per operation type

/// Client latency CDF per operation type (ok), plus one line each for fail and info; log x.
pub struct LatencyCdf<'a>(pub &'a Run);

/// A CDF line: its label, colour, points, and its p50, p99 and max.
type CdfLine = (String, RGBColor, Vec<(f64, f64)>, [f64; 3]);

/// p-th percentile (nearest rank) of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    sim::metrics::nearest_rank(sorted, p / 100.0)
}

impl Plot for LatencyCdf<'_> {
    fn name(&self) -> &'static str {
        "latency-cdf"
    }
    fn size(&self) -> (u32, u32) {
        (900, 520)
    }
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        let e = draw_err("latency-cdf");
        root.fill(&WHITE).map_err(&e)?;
        let mut by: BTreeMap<(u8, String), Vec<f64>> = BTreeMap::new();
        for op in &self.0.ops {
            let ms = op.latency_ns() as f64 / 1e6;
            let key = match op.outcome {
                Outcome::Ok => (0, format!("{} ok", op.f)),
                o => (1, format!("{} (any op)", o.name())),
            };
            by.entry(key).or_default().push(ms.max(1e-3));
        }
        let mut lines: Vec<CdfLine> = Vec::new();
        let palette = [BLUE_, GREEN_, PURPLE_, BROWN_, TEAL_, OLIVE_];
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for (k, ((fail, label), mut v)) in by.into_iter().enumerate() {
            v.sort_by(f64::total_cmp);
            lo = lo.min(v[0]);
            hi = hi.max(v[v.len() - 1]);
            let n = v.len();
            // At most ~1000 steps per line: evenly spaced ranks, the last one included.
            let stride = n.div_ceil(1000).max(1);
            let mut pts = vec![(v[0], 0.0)];
            for i in (0..n).step_by(stride).chain(std::iter::once(n - 1)) {
                pts.push((v[i], (i + 1) as f64 / n as f64 * 100.0));
            }
            let marks = [pct(&v, 50.0), pct(&v, 99.0), v[n - 1]];
            let color = match (fail, label.as_str()) {
                (0, _) => palette[k % palette.len()],
                (_, l) if l.starts_with("fail") => ORANGE_,
                _ => RED_,
            };
            let label = format!(
                "{label}: n={n}, p50 {} · p99 {} · max {} ms",
                num(marks[0]),
                num(marks[1]),
                num(marks[2])
            );
            lines.push((label, color, pts, marks));
        }
        if lines.is_empty() {
            return Ok(());
        }
        let (a, b) = (lo * 0.8, hi * 1.25);
        let mut chart = ChartBuilder::on(root)
            .caption(
                if self.0.ops_stride > 1 {
                    format!(
                        "client latency, CDF per operation type (● p50, p99, max; 1 in {} of {} operations)",
                        self.0.ops_stride, self.0.ops_completed
                    )
                } else {
                    "client latency, CDF per operation type (● p50, p99, max)".to_string()
                },
                ("sans-serif", 18),
            )
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d((a..b).log_scale(), 0.0..101.0)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(243, 243, 243))
            .x_desc("latency from arrival to completion (ms, log scale)")
            .y_desc("cumulative percent of operations")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_label_formatter(&|v| num(*v))
            .draw()
            .map_err(&e)?;
        for (label, c, pts, marks) in &lines {
            let c = *c;
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(&e)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
            let at = |x: f64| {
                // The CDF's height at x: the share of values ≤ x.
                pts.iter().filter(|p| p.0 <= x).map(|p| p.1).fold(0.0, f64::max)
            };
            chart
                .draw_series(marks.iter().map(|m| Circle::new((*m, at(*m)), 4, c.filled())))
                .map_err(&e)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(&e)?;
        Ok(())
    }
}

/// A number for a label: 3 significant digits, no trailing zeros.
pub fn num(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// Throughput with fault bands

/// Operations completed per second over time, ok and not, with every fault interval as a
/// shaded band labelled with what it was.
pub struct Throughput<'a>(pub &'a Run);

/// Label lanes above the data in the band plots.
const LANES: usize = 4;

impl Plot for Throughput<'_> {
    fn name(&self) -> &'static str {
        "throughput"
    }
    fn size(&self) -> (u32, u32) {
        (1000, 460)
    }
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        let e = draw_err("throughput");
        let run = self.0;
        root.fill(&WHITE).map_err(&e)?;
        let (w, h) = self.size();
        let (top, bottom) = root.split_vertically(h - 46);
        let ax = TimeAxis::for_span(run.end_ns);
        let end = ax.x(run.end_ns).max(1e-3);
        let buckets = crate::run::THROUGHPUT_BUCKETS;
        let width_ns = (run.throughput_ns / buckets as u64).max(1);
        let per = &run.throughput;
        let rate = |n: u64| n as f64 / (width_ns as f64 / 1e9);
        let y_max = per.iter().flatten().map(|n| rate(*n)).fold(1.0, f64::max) * 1.05;
        let lane_h = y_max * 0.09;
        let y_top = y_max + lane_h * LANES as f64 + lane_h * 0.3;
        let mut chart = ChartBuilder::on(&top)
            .caption(
                format!(
                    "throughput: client operations completed per second ({} s buckets), faults shaded",
                    num(width_ns as f64 / 1e9)
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..end, 0.0..y_top)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(243, 243, 243))
            .x_desc(ax.label())
            .y_desc("operations per second")
            .x_label_formatter(&|v| num(*v))
            .y_label_formatter(&|v| if *v <= y_max { num(*v) } else { String::new() })
            .draw()
            .map_err(&e)?;
        let px_per = (w as f64 - 64.0 - 24.0) / end;
        draw_bands(&mut chart, run, ax, (0.0, y_max), lane_h, px_per)?;
        let series = [
            ("completed ok", BLUE_, 0usize),
            ("failed or unknown (fail, info)", RED_, 1),
        ];
        for (label, c, k) in series {
            if per[k].iter().all(|n| *n == 0) {
                continue;
            }
            let pts: Vec<(f64, f64)> = (0..buckets)
                .map(|b| (ax.x(b as u64 * width_ns + width_ns / 2), rate(per[k][b])))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(&e)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(&e)?;
        let mut items = vec![];
        if !run.faults.is_empty() {
            items.push(("faults:".to_string(), WHITE));
        }
        items.extend(fault_kinds(&run.faults));
        legend_strip(&bottom, &items)?;
        Ok(())
    }
}

/// Fault bands over `y` in a chart, their labels in lanes above `y.1`.
fn draw_bands<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    run: &Run,
    ax: TimeAxis,
    y: (f64, f64),
    lane_h: f64,
    px_per: f64,
) -> Result<(), ReportError> {
    let e = draw_err("fault bands");
    let font = ("sans-serif", 11).into_font().color(&BLACK);
    let plot_px = ax.x(run.end_ns) * px_per;
    let items: Vec<(f64, f64)> = run
        .faults
        .iter()
        .map(|f| {
            let (start, width) = (ax.x(f.at) * px_per, text_px(&fault_label(f), 11.0));
            // A label that would run off the right edge is left out.
            if start + width > plot_px + 20.0 {
                (f64::MAX, 0.0)
            } else {
                (start, width)
            }
        })
        .collect();
    let lanes = pack(&items, LANES);
    for (f, lane) in run.faults.iter().zip(&lanes) {
        let (a, b) = (ax.x(f.at), ax.x(run.until(f)));
        let c = fault_color(&f.kind);
        if f.lasting && b > a {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, y.0), (b, y.1)],
                    c.mix(0.18).filled(),
                )))
                .map_err(&e)?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(a, y.0), (a, y.1)],
                    c.stroke_width(2),
                )))
                .map_err(&e)?;
        }
        if let Some(l) = lane {
            let ly = y.1 + lane_h * (*l as f64 + 0.9);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(a, y.1), (a, ly)],
                    c.stroke_width(1),
                )))
                .map_err(&e)?;
            chart
                .draw_series(std::iter::once(Text::new(fault_label(f), (a, ly), font.clone())))
                .map_err(&e)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Node timeline

/// One row per node, grouped by node group: its role over time, and its own faults (crash,
/// pause, slow disk, clock jump) as labelled outlines; the network's faults (partitions,
/// cuts) on a row of their own above.
pub struct NodeTimeline<'a>(pub &'a Run);

impl NodeTimeline<'_> {
    fn rows(&self) -> Vec<(String, Option<String>)> {
        let run = self.0;
        let mut rows = Vec::new();
        if run.faults.iter().any(|f| f.node.is_none()) {
            rows.push(("network".to_string(), None));
        }
        let grouped = run.groups.len() > 1;
        for (g, nodes) in &run.groups {
            for n in nodes {
                let label = if grouped { format!("{g} {n}") } else { n.clone() };
                rows.push((label, Some(n.clone())));
            }
        }
        rows
    }
}

impl Plot for NodeTimeline<'_> {
    fn name(&self) -> &'static str {
        "timeline"
    }
    fn size(&self) -> (u32, u32) {
        (1000, 170 + 44 * self.rows().len() as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        let e = draw_err("timeline");
        let run = self.0;
        root.fill(&WHITE).map_err(&e)?;
        let (w, h) = self.size();
        let rows = self.rows();
        let n = rows.len();
        let (top, bottom) = root.split_vertically(h - 50);
        let ax = TimeAxis::for_span(run.end_ns);
        let end = ax.x(run.end_ns).max(1e-3);
        let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let mut chart = ChartBuilder::on(&top)
            .caption("each node's role over time, with its faults", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(96)
            .build_cartesian_2d(0.0..end, 0.0..(n as f64 + 0.6))
            .map_err(&e)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(243, 243, 243))
            .disable_y_mesh()
            .y_labels(n * 2 + 2)
            .x_label_formatter(&|v| num(*v))
            .y_label_formatter(&|y| {
                let i = y.round() as usize;
                if (y - y.round()).abs() < 0.01 && i >= 1 && i <= names.len() {
                    names[names.len() - i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc(ax.label())
            .draw()
            .map_err(&e)?;
        let y_of = |row: usize| (n - row) as f64;
        let px_per = (w as f64 - 96.0 - 24.0) / end;
        let font = ("sans-serif", 11).into_font().color(&BLACK);
        let mut roles_seen: Vec<String> = Vec::new();
        for (row, (_, node)) in rows.iter().enumerate() {
            let y = y_of(row);
            let Some(node) = node else { continue };
            let segs = run.roles.get(node).map(Vec::as_slice).unwrap_or(&[]);
            for (k, (start, role)) in segs.iter().enumerate() {
                let stop = segs.get(k + 1).map_or(run.end_ns, |s| s.0);
                if !roles_seen.contains(role) {
                    roles_seen.push(role.clone());
                }
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(ax.x(*start), y - 0.22), (ax.x(stop), y + 0.22)],
                        role_color(role).filled(),
                    )))
                    .map_err(&e)?;
            }
        }
        // Faults: a node's on its row, the network's on the top row; labels just above.
        let mut per_row: BTreeMap<usize, Vec<&Fault>> = BTreeMap::new();
        for f in &run.faults {
            let row = match &f.node {
                Some(node) => rows.iter().position(|r| r.1.as_ref() == Some(node)),
                None => Some(0),
            };
            if let Some(row) = row {
                per_row.entry(row).or_default().push(f);
            }
        }
        let mut unlabelled = 0usize;
        for (row, faults) in per_row {
            let y = y_of(row);
            // Faults of one kind that start together (a leader cut off from every peer) share
            // one label.
            let labels: Vec<String> = faults
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    let same = |g: &&Fault| g.at == f.at && g.kind == f.kind;
                    if k > 0 && same(&faults[k - 1]) {
                        return String::new();
                    }
                    let more = faults[k + 1..].iter().take_while(|g| same(g)).count();
                    let text = if f.node.is_some() {
                        f.kind.clone()
                    } else {
                        fault_label(f)
                    };
                    if more > 0 {
                        format!("{text} (+{more})")
                    } else {
                        text
                    }
                })
                .collect();
            let items: Vec<(f64, f64)> = faults
                .iter()
                .zip(&labels)
                .map(|(f, l)| {
                    if l.is_empty() {
                        (f64::MAX, 0.0)
                    } else {
                        (ax.x(f.at) * px_per, text_px(l, 11.0))
                    }
                })
                .collect();
            // The network row has room for two lanes of labels; a node's row for one.
            let lanes = pack(&items, if rows[row].1.is_none() { 2 } else { 1 });
            for ((f, label), lane) in faults.iter().zip(labels).zip(lanes) {
                let (a, b) = (ax.x(f.at), ax.x(run.until(f)));
                let c = fault_color(&f.kind);
                let (y0, y1) = (y - 0.3, y + 0.3);
                if f.lasting && b > a {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(a, y0), (b, y1)],
                            c.mix(0.25).filled(),
                        )))
                        .map_err(&e)?;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(a, y0), (b, y1)],
                            c.stroke_width(1),
                        )))
                        .map_err(&e)?;
                } else {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(a, y0), (a, y1)],
                            c.stroke_width(3),
                        )))
                        .map_err(&e)?;
                }
                match lane {
                    _ if label.is_empty() => {}
                    Some(l) => {
                        // Above the row, or (second lane) inside its band.
                        let ly = if l == 0 { y + 0.48 } else { y + 0.05 };
                        chart
                            .draw_series(std::iter::once(Text::new(label, (a, ly), font.clone())))
                            .map_err(&e)?;
                    }
                    None => unlabelled += 1,
                }
            }
        }
        let mut items: Vec<(String, RGBColor)> = vec![("roles:".into(), WHITE)];
        roles_seen.sort_by_key(|r| (r == "down", r.clone()));
        items.extend(roles_seen.iter().map(|r| (r.clone(), role_color(r))));
        if !run.faults.is_empty() {
            items.push(("faults:".into(), WHITE));
            items.extend(fault_kinds(&run.faults));
        }
        if unlabelled > 0 {
            items.push((
                format!("({unlabelled} fault labels left out where they would overlap)"),
                WHITE,
            ));
        }
        legend_strip(&bottom, &items)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Metrics over time

/// One panel per metric the run sampled (`metrics.jsonl`): each sample against the time it
/// was taken, durations in ms, with the fault bands behind.
pub struct MetricsOverTime<'a>(pub &'a Run);

impl Plot for MetricsOverTime<'_> {
    fn name(&self) -> &'static str {
        "metrics"
    }
    fn size(&self) -> (u32, u32) {
        (1000, 40 + 230 * self.0.metric_samples.len().max(1) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        let e = draw_err("metrics");
        let run = self.0;
        root.fill(&WHITE).map_err(&e)?;
        let (w, _) = self.size();
        let root = root
            .titled(
                "metrics over time: every sample the engine and the protocol report",
                ("sans-serif", 18),
            )
            .map_err(&e)?;
        let panels = root.split_evenly((run.metric_samples.len().max(1), 1));
        let ax = TimeAxis::for_span(run.end_ns);
        let end = ax.x(run.end_ns).max(1e-3);
        for ((name, samples), area) in run.metric_samples.iter().zip(&panels) {
            let ns = run.result["metric_units"][name] == "ns";
            let y = |v: f64| if ns { v / 1e6 } else { v };
            let y_max = samples.iter().map(|s| y(s.1)).fold(0.0, f64::max).max(1e-9) * 1.1;
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{name} ({} samples{})",
                        samples.len(),
                        if ns { ", ms" } else { "" }
                    ),
                    ("sans-serif", 14),
                )
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(64)
                .build_cartesian_2d(0.0..end, 0.0..y_max)
                .map_err(&e)?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(243, 243, 243))
                .x_desc(ax.label())
                .y_desc(if ns { "ms" } else { "count" })
                .x_label_formatter(&|v| num(*v))
                .y_label_formatter(&|v| num(*v))
                .draw()
                .map_err(&e)?;
            for f in run.faults.iter().filter(|f| f.lasting) {
                let (a, b) = (ax.x(f.at), ax.x(run.until(f)));
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, 0.0), (b.max(a), y_max)],
                        fault_color(&f.kind).mix(0.12).filled(),
                    )))
                    .map_err(&e)?;
            }
            chart
                .draw_series(
                    samples
                        .iter()
                        .map(|(t, v)| Circle::new((ax.x(*t), y(*v)), 2, BLUE_.filled())),
                )
                .map_err(&e)?;
        }
        let _ = w;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Failing operations of a non-linearizable history

/// One operation of a minimal failing set.
#[derive(Clone, Debug)]
pub struct FailingOp {
    pub client: String,
    pub call_ns: u64,
    /// None: it never completed (pending or info), drawn to the end.
    pub ret_ns: Option<u64>,
    pub text: String,
    pub culprit: bool,
}

pub struct FailingOps {
    pub key: String,
    pub ops: Vec<FailingOp>,
    pub minimal: bool,
}

/// Most history bytes re-checked for the failing-operations plot.
pub const MAX_HISTORY_BYTES: u64 = 256 << 20;

/// The minimal failing operations of the run's history, when its `linearizable` check
/// failed: the history is checked again (only the failing key, named by the check) to find
/// them and their real times.
pub fn failing_ops(dir: &std::path::Path, run: &Run) -> Option<FailingOps> {
    use sim::linearize::{check_with, Budget, CheckOptions, KvModel, Model, Verdict, PENDING};
    let check = run.result["checks"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "linearizable" && c["status"] == "fail")?;
    let key = check["detail"].as_str()?.split_whitespace().next()?.to_string();
    let path = dir.join("history.jsonl");
    if std::fs::metadata(&path).ok()?.len() > MAX_HISTORY_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    // call/ret are positions in the history's order: one per line; their times from the lines.
    let times: Vec<u64> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["time_ns"].as_u64())
                .unwrap_or(0)
        })
        .collect();
    let mut ops = sim::linearize::formats::parse_dsim_jsonl(&text).ok()?;
    ops.retain(|o| o.input.key == key);
    sim::linearize::formats::merge_unobserved_values(&mut ops);
    let mut budget = Budget::new(50_000_000);
    let r = check_with(&KvModel, &ops, &mut budget, &CheckOptions::default());
    if r.verdict != Verdict::NotLinearizable {
        return None;
    }
    let f = r.failure?;
    let at = |pos: u64| times.get(pos as usize).copied().unwrap_or(0);
    let mut out: Vec<FailingOp> = f
        .ops
        .iter()
        .map(|&i| {
            let o = &ops[i];
            FailingOp {
                client: format!("c{}", o.client),
                call_ns: at(o.call),
                ret_ns: (o.ret != PENDING).then(|| at(o.ret)),
                text: KvModel.describe(&o.input, &o.output),
                culprit: i == f.culprit,
            }
        })
        .collect();
    out.sort_by_key(|o| o.call_ns);
    Some(FailingOps {
        key,
        ops: out,
        minimal: f.minimal,
    })
}

/// The minimal failing operations on a per-client timeline.
/// The run's faults are drawn too (a line at each, labelled): they are usually why.
pub struct FailingOpsPlot<'a>(pub &'a FailingOps, pub &'a Run);

impl FailingOpsPlot<'_> {
    fn clients(&self) -> Vec<String> {
        let mut c: Vec<String> = self.0.ops.iter().map(|o| o.client.clone()).collect();
        c.sort_by_key(|c| c.trim_start_matches('c').parse::<u64>().unwrap_or(u64::MAX));
        c.dedup();
        c
    }
}

impl Plot for FailingOpsPlot<'_> {
    fn name(&self) -> &'static str {
        "failing-ops"
    }
    fn size(&self) -> (u32, u32) {
        (1000, 190 + 70 * self.clients().len() as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        let e = draw_err("failing-ops");
        root.fill(&WHITE).map_err(&e)?;
        let clients = self.clients();
        let ops = &self.0.ops;
        let lo = ops.iter().map(|o| o.call_ns).min().unwrap_or(0);
        let hi = ops
            .iter()
            .map(|o| o.ret_ns.unwrap_or(o.call_ns))
            .max()
            .unwrap_or(lo)
            .max(lo + 1);
        let pad = (hi - lo) / 8 + 1;
        let (a, b) = (lo.saturating_sub(pad) as f64 / 1e6, (hi + pad) as f64 / 1e6);
        let n = clients.len();
        let caption = format!(
            "{}: {} operations that cannot be linearized{} (red: the one no order gets past)",
            self.0.key,
            ops.len(),
            if self.0.minimal { ", a minimal set" } else { "" }
        );
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 17))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(a..b, 0.0..(n as f64 + 1.7))
            .map_err(&e)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(243, 243, 243))
            .disable_y_mesh()
            .y_labels(n * 2 + 2)
            .y_label_formatter(&|y| {
                let i = y.round() as usize;
                if (y - y.round()).abs() < 0.01 && i >= 1 && i <= n {
                    clients[n - i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("simulated time (ms): each bar from invocation to completion")
            .x_label_formatter(&|v| num(*v))
            .draw()
            .map_err(&e)?;
        let font = ("sans-serif", 12).into_font().color(&BLACK);
        // Faults within the window (and the last one before it), as labelled lines, lasting
        // ones shaded until their heal.
        let before = self.1.faults.iter().rposition(|f| (f.at as f64 / 1e6) < a);
        let shown: Vec<&Fault> = self
            .1
            .faults
            .iter()
            .enumerate()
            .filter(|(k, f)| {
                let x = f.at as f64 / 1e6;
                (x >= a && x <= b) || Some(*k) == before
            })
            .map(|(_, f)| f)
            .take(40)
            .collect();
        let small = ("sans-serif", 11).into_font();
        let px_per = (1000.0 - 48.0 - 28.0) / (b - a);
        let labels: Vec<String> = shown
            .iter()
            .map(|f| {
                if (f.at as f64 / 1e6) < a {
                    format!("← {}", fault_label(f))
                } else {
                    fault_label(f)
                }
            })
            .collect();
        let items: Vec<(f64, f64)> = shown
            .iter()
            .zip(&labels)
            .map(|(f, l)| (((f.at as f64 / 1e6).max(a) - a) * px_per, text_px(l, 11.0)))
            .collect();
        let lanes = pack(&items, 3);
        for ((f, label), lane) in shown.iter().zip(labels).zip(lanes) {
            let x = (f.at as f64 / 1e6).max(a);
            let c = fault_color(&f.kind);
            let ly = lane.map(|l| n as f64 + 0.75 + 0.3 * l as f64);
            if f.lasting {
                let until = (self.1.until(f) as f64 / 1e6).min(b);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, 0.0), (until.max(x), n as f64 + 0.6)],
                        c.mix(0.12).filled(),
                    )))
                    .map_err(&e)?;
            }
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, ly.unwrap_or(n as f64 + 0.6))],
                    c.stroke_width(2),
                )))
                .map_err(&e)?;
            if let Some(ly) = ly {
                chart
                    .draw_series(std::iter::once(Text::new(
                        label,
                        (x, ly + 0.22),
                        small.clone().color(&c),
                    )))
                    .map_err(&e)?;
            }
        }
        let mut lane_of: BTreeMap<String, usize> = BTreeMap::new();
        for o in ops {
            let row = clients.iter().position(|c| *c == o.client).unwrap_or(0);
            let y = (n - row) as f64;
            let (x0, x1) = (o.call_ns as f64 / 1e6, o.ret_ns.map_or(b, |r| r as f64 / 1e6));
            let c = if o.culprit { RED_ } else { BLUE_ };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, y - 0.12), (x1, y + 0.12)],
                    c.mix(0.8).filled(),
                )))
                .map_err(&e)?;
            for x in [x0, x1] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y - 0.25), (x, y + 0.25)],
                        c.stroke_width(2),
                    )))
                    .map_err(&e)?;
            }
            // Alternate a client's labels above and below its bars so neighbours do not collide.
            let lane = lane_of.entry(o.client.clone()).or_default();
            let ly = if lane.is_multiple_of(2) {
                y + 0.42
            } else {
                y - 0.22
            };
            *lane += 1;
            let text = if o.ret_ns.is_none() {
                format!("{} (never completed)", o.text)
            } else {
                o.text.clone()
            };
            chart
                .draw_series(std::iter::once(Text::new(text, (x0, ly), font.clone())))
                .map_err(&e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_pack_into_lanes_and_give_up_when_full() {
        let items = [(0.0, 50.0), (10.0, 50.0), (100.0, 10.0), (20.0, 5.0)];
        assert_eq!(pack(&items, 2), vec![Some(0), Some(1), Some(0), None]);
    }

    #[test]
    fn numbers_for_labels_have_three_significant_digits() {
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(520.4), "520");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.1234), "0.123");
    }
}
