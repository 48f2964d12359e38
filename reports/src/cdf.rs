//! Cumulative distribution plots, one line per series (`dsim sweep`'s `cdf-METRIC.svg`): the
//! share of *all* trials that reached each value, so censored trials (never measured) keep the
//! line below 100% instead of vanishing.

use super::{draw_err, ReportError};
use plotters::prelude::*;

/// One line: its label, the measured values, and how many trials were censored.
pub struct CdfSeries {
    pub label: String,
    pub values: Vec<f64>,
    pub censored: usize,
}

/// The ten colours of every plot (matplotlib's tab10), in order.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Whether the values spread over enough orders of magnitude for a log x axis.
pub fn wants_log(series: &[CdfSeries]) -> bool {
    range(series).is_some_and(|(lo, hi)| lo > 0.0 && hi / lo > 20.0)
}

/// The smallest and largest value of all series (None: no values).
fn range(series: &[CdfSeries]) -> Option<(f64, f64)> {
    let all = series.iter().flat_map(|s| s.values.iter().copied());
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    (lo <= hi).then_some((lo, hi))
}

type Line = (String, RGBColor, Vec<(f64, f64)>);

/// Log-axis ticks at 1, 2 and 5 times each power of ten within `[a, b]`.
fn one_two_five(a: f64, b: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut p = 10f64.powi(a.log10().floor() as i32);
    while p <= b {
        for m in [1.0, 2.0, 5.0] {
            let v = m * p;
            if v >= a && v <= b {
                out.push(v);
            }
        }
        p *= 10.0;
    }
    out
}

/// An axis label: no trailing zeros, and no decimals once the numbers are large.
fn tick(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    s
}

/// Axes, lines and legend, on a linear or a logarithmic x axis.
fn draw_lines<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    x_label: &str,
    lines: &[Line],
) -> Result<(), ReportError>
where
    X: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let e = draw_err("a CDF plot");
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("cumulative percent of trials")
        .x_labels(12)
        .y_labels(11)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(&e)?;
    for (label, color, pts) in lines {
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(&e)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(&e)?;
    Ok(())
}

/// The plot as SVG text. `x_label` names the unit (e.g. "downtime (ms)").
pub fn cdf_svg(title: &str, x_label: &str, series: &[CdfSeries]) -> Result<String, ReportError> {
    crate::plots::register_font()?;
    let mut svg = String::new();
    let e = draw_err("a CDF plot");
    let (lo, hi) = range(series).unwrap_or((0.0, 1.0));
    let log = wants_log(series);
    let lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut v = s.values.clone();
            v.sort_by(f64::total_cmp);
            let total = (v.len() + s.censored).max(1) as f64;
            let mut pts = Vec::with_capacity(v.len() * 2 + 1);
            let mut prev = 0.0;
            for (i, x) in v.iter().enumerate() {
                pts.push((*x, prev));
                prev = (i + 1) as f64 / total * 100.0;
                pts.push((*x, prev));
            }
            let mut label = format!("{} (n={}", s.label, v.len() + s.censored);
            if s.censored > 0 {
                label.push_str(&format!(", {} censored", s.censored));
            }
            label.push(')');
            (label, PALETTE[k % PALETTE.len()], pts)
        })
        .collect();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56);
        if log {
            let (a, b) = (lo * 0.9, hi * 1.1);
            let chart = builder
                .build_cartesian_2d((a..b).log_scale().with_key_points(one_two_five(a, b)), 0.0..100.0)
                .map_err(&e)?;
            draw_lines(chart, x_label, &lines)?;
        } else {
            let pad = ((hi - lo) * 0.03).max(hi.abs() * 0.01).max(1e-9);
            let chart = builder
                .build_cartesian_2d((lo - pad).max(0.0)..hi + pad, 0.0..100.0)
                .map_err(&e)?;
            draw_lines(chart, x_label, &lines)?;
        }
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn censored_trials_keep_the_line_below_the_top_and_show_in_the_legend() {
        let s = vec![
            CdfSeries {
                label: "a".into(),
                values: vec![1.0, 2.0, 3.0],
                censored: 1,
            },
            CdfSeries {
                label: "b".into(),
                values: vec![100.0, 200.0],
                censored: 0,
            },
        ];
        assert!(wants_log(&s));
        let svg = cdf_svg("t", "x (ms)", &s).unwrap();
        assert!(svg.contains("a (n=4, 1 censored)"), "{svg}");
        assert!(svg.contains("b (n=2)"));
        assert!(!wants_log(&s[..1]));
    }
}
