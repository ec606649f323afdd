//! SVG line charts over time with `plotters`.
//!
//! Built without plotters' `ttf` feature (which needs fontconfig and FreeType): the SVG
//! backend writes text as `<text>` elements that the viewer renders, and plotters only
//! estimates text sizes for the layout, which is all an SVG needs.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::analysis::Points;

pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);
pub const RED: RGBColor = RGBColor(214, 39, 40);
pub const PURPLE: RGBColor = RGBColor(148, 103, 189);
pub const GREY: RGBColor = RGBColor(127, 127, 127);
/// Colours for one line per run in the comparison charts.
pub const PALETTE: [RGBColor; 6] = [BLUE, ORANGE, GREEN, RED, PURPLE, GREY];

pub struct Line<'a> {
    pub label: String,
    pub points: &'a Points,
    pub color: RGBColor,
    /// Draw as steps (a value holds until the next sample), for counts like replicas.
    pub steps: bool,
}

pub struct Chart<'a> {
    pub title: String,
    pub y_label: &'a str,
    pub lines: Vec<Line<'a>>,
    /// Vertical dashed lines with a label at the top (phase starts).
    pub markers: &'a [(f64, String)],
    pub x_max: f64,
    /// Logarithmic y axis (latency spans orders of magnitude in a spike).
    pub log_y: bool,
}

/// Writes `chart` to `path` as SVG.
pub fn draw(path: &Path, chart: &Chart<'_>) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let y_top = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let x_range = 0.0..chart.x_max.max(1.0);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&chart.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if chart.log_y {
        let y_min = chart
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let y_min = if y_min.is_finite() { y_min / 2.0 } else { 0.1 };
        let y_range = (y_min..(y_top * 2.0).max(y_min * 10.0)).log_scale();
        let mut ctx = builder.build_cartesian_2d(x_range, y_range)?;
        ctx.configure_mesh()
            .x_desc("seconds since start")
            .y_desc(chart.y_label)
            .y_label_formatter(&|v| format_number(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let (bottom, top) = (y_min, (y_top * 2.0).max(y_min * 10.0));
        draw_markers(&mut ctx, chart.markers, bottom, top)?;
        draw_lines(&mut ctx, &chart.lines, |v| v.max(bottom))?;
        draw_legend(&mut ctx)?;
    } else {
        let top = if y_top > 0.0 { y_top * 1.1 } else { 1.0 };
        let mut ctx = builder.build_cartesian_2d(x_range, 0.0..top)?;
        ctx.configure_mesh()
            .x_desc("seconds since start")
            .y_desc(chart.y_label)
            .y_label_formatter(&|v| format_number(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        draw_markers(&mut ctx, chart.markers, 0.0, top)?;
        draw_lines(&mut ctx, &chart.lines, |v| v)?;
        draw_legend(&mut ctx)?;
    }
    root.present()?;
    Ok(())
}

type Ctx<'a, 'b, Y> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

fn draw_markers<Y>(
    ctx: &mut Ctx<'_, '_, Y>,
    markers: &[(f64, String)],
    bottom: f64,
    top: f64,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    let style = ShapeStyle::from(&GREY.mix(0.8)).stroke_width(1);
    for (t, name) in markers {
        ctx.draw_series(std::iter::once(DashedPathElement::new(
            vec![(*t, bottom), (*t, top)],
            6,
            4,
            style,
        )))?;
        ctx.draw_series(std::iter::once(Text::new(
            format!(" {name}"),
            (*t, top),
            ("sans-serif", 13).into_font().color(&GREY),
        )))?;
    }
    Ok(())
}

fn draw_lines<Y>(
    ctx: &mut Ctx<'_, '_, Y>,
    lines: &[Line<'_>],
    clamp: impl Fn(f64) -> f64,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    for line in lines {
        let points = if line.steps {
            steps(line.points)
        } else {
            line.points.clone()
        };
        let color = line.color;
        ctx.draw_series(LineSeries::new(
            points.into_iter().map(|(x, y)| (x, clamp(y))),
            color.stroke_width(2),
        ))?
        .label(line.label.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    Ok(())
}

fn draw_legend<'a, 'b: 'a, Y>(ctx: &mut Ctx<'a, 'b, Y>) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// A value held until the next sample: (0,1),(5,3) → (0,1),(5,1),(5,3).
pub fn steps(points: &Points) -> Points {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push((x, points[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// Axis labels without float noise: 1500 → "1500", 0.25 → "0.25", 12000 → "12k".
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_each_value_until_the_next_sample() {
        assert_eq!(
            steps(&vec![(0.0, 1.0), (5.0, 3.0), (9.0, 2.0)]),
            vec![(0.0, 1.0), (5.0, 1.0), (5.0, 3.0), (9.0, 3.0), (9.0, 2.0)]
        );
        assert!(steps(&Vec::new()).is_empty());
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(format_number(12_000.0), "12k");
        assert_eq!(format_number(1500.0), "1500");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(0.0), "0");
    }

    #[test]
    fn a_chart_is_written_as_svg_with_its_labels() {
        let dir = std::env::temp_dir().join(format!("loadgen-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart.svg");
        let points = vec![(0.0, 1.0), (10.0, 100.0), (20.0, 5.0)];
        let markers = [(0.0, "baseline".to_owned()), (10.0, "spike".to_owned())];
        for log_y in [false, true] {
            draw(
                &path,
                &Chart {
                    title: "latency".into(),
                    y_label: "ms",
                    lines: vec![Line {
                        label: "p99".into(),
                        points: &points,
                        color: RED,
                        steps: false,
                    }],
                    markers: &markers,
                    x_max: 20.0,
                    log_y,
                },
            )
            .unwrap();
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.starts_with("<svg"), "{svg}");
            for text in ["latency", "p99", "spike", "seconds since start"] {
                assert!(svg.contains(text), "{text} missing");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
