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
    /// Dashed, so a line drawn over another equal one stays visible.
    pub dashed: bool,
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

const WIDTH: u32 = 960;
const HEIGHT: u32 = 420;
/// Title and legend sit in a strip above the plot, so they never cover a line.
const HEADER: u32 = 36;
const Y_LABEL_AREA: u32 = 70;

/// Writes `chart` to `path` as SVG.
pub fn draw(path: &Path, chart: &Chart<'_>) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(HEADER);
    draw_header(&header, chart)?;

    let values = || {
        chart
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
    };
    let y_top = values().fold(0.0, f64::max);
    let x_range = 0.0..chart.x_max.max(1.0);
    let mut builder = ChartBuilder::on(&body);
    builder
        .margin_left(12)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(40)
        .y_label_area_size(Y_LABEL_AREA);
    let x_labels = |v: &f64| format!("{v:.0}");
    if chart.log_y {
        // Whole decades at both ends: plotters labels the powers of ten inside the range.
        let y_min = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        let low = if y_min.is_finite() {
            10f64.powf(y_min.log10().floor())
        } else {
            0.1
        };
        let high = 10f64.powf(y_top.max(low).log10().ceil()).max(low * 10.0);
        let decades = (high / low).log10().round() as usize;
        let mut ctx = builder.build_cartesian_2d(x_range, (low..high).log_scale())?;
        ctx.configure_mesh()
            .x_desc("seconds since start")
            .x_label_formatter(&x_labels)
            .y_desc(chart.y_label)
            .y_labels(decades + 1)
            .y_label_formatter(&|v| format_number(*v))
            .light_line_style(BLACK.mix(0.04))
            .draw()?;
        draw_markers(&mut ctx, chart.markers, low, high)?;
        draw_lines(&mut ctx, &chart.lines, |v| v.max(low))?;
    } else {
        let top = if y_top > 0.0 { y_top * 1.12 } else { 1.0 };
        let mut ctx = builder.build_cartesian_2d(x_range, 0.0..top)?;
        ctx.configure_mesh()
            .x_desc("seconds since start")
            .x_label_formatter(&x_labels)
            .y_desc(chart.y_label)
            .y_label_formatter(&|v| format_number(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        draw_markers(&mut ctx, chart.markers, 0.0, top)?;
        draw_lines(&mut ctx, &chart.lines, |v| v)?;
    }
    root.present()?;
    Ok(())
}

/// Title on the left (over the plot area), legend on the right.
fn draw_header(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    chart: &Chart<'_>,
) -> anyhow::Result<()> {
    area.draw(&Text::new(
        chart.title.clone(),
        (Y_LABEL_AREA as i32 + 12, 10),
        ("sans-serif", 18).into_font(),
    ))?;
    let font = ("sans-serif", 14).into_font();
    let mut right = WIDTH as i32 - 24;
    for line in chart.lines.iter().rev() {
        // The SVG viewer measures the text; this estimate only spaces the entries.
        let width = 30 + 8 * line.label.chars().count() as i32;
        let x = right - width;
        let y = HEADER as i32 / 2 + 2;
        let style = line.color.stroke_width(2);
        if line.dashed {
            area.draw(&DashedPathElement::new(
                vec![(x, y), (x + 22, y)],
                5,
                3,
                style,
            ))?;
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + 22, y)], style))?;
        }
        area.draw(&Text::new(
            line.label.clone(),
            (x + 27, y - 7),
            font.clone(),
        ))?;
        right = x - 16;
    }
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
        let points: Vec<(f64, f64)> = points.into_iter().map(|(x, y)| (x, clamp(y))).collect();
        let style = line.color.stroke_width(2);
        if line.dashed {
            ctx.draw_series(std::iter::once(DashedPathElement::new(points, 8, 5, style)))?;
        } else {
            ctx.draw_series(LineSeries::new(points, style))?;
        }
    }
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

/// Axis labels without float noise: 1500 → "1500", 2.0 → "2", 0.25 → "0.25",
/// 12000 → "12k".
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 10.0 || (v - v.round()).abs() < 1e-9 {
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
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(1.0), "1");
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
                        dashed: false,
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
