//! Draws a load run's timeline as a PNG: verified replicas per second, and post→paid latency in
//! slots (p50 and p95), over the run.
use std::path::Path;

use plotters::prelude::*;

use crate::error::AppError;
use crate::load::{LoadFigures, Moment, TIMELINE_SECONDS};

/// One line of a panel: its legend, its value at each moment, its colour.
type Series<'a> = (&'a str, &'a dyn Fn(&Moment) -> f64, RGBColor);

/// Size of the image, pixels.
const SIZE: (u32, u32) = (1000, 640);

/// Writes `figures`' timeline to `path` as a PNG.
pub fn draw(figures: &LoadFigures, path: &Path) -> Result<(), AppError> {
    let failed = |e: &dyn std::fmt::Display| AppError::Plot(format!("{}: {e}", path.display()));
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2);
    let moments = &figures.timeline;
    let end = moments
        .last()
        .map_or(TIMELINE_SECONDS, |m| m.second + TIMELINE_SECONDS) as f64;
    let rate = |m: &Moment| m.replicas_per_second;
    panel(
        &top,
        "verified replicas per second",
        end,
        &[("replicas / s", &rate, RED)],
        moments,
    )
    .map_err(|e| failed(&e))?;
    let p50 = |m: &Moment| m.latency_slots.p50;
    let p95 = |m: &Moment| m.latency_slots.p95;
    panel(
        &bottom,
        "post → paid latency, slots",
        end,
        &[("p50", &p50, BLUE), ("p95", &p95, MAGENTA)],
        moments,
    )
    .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

/// One line per series of `moments` against seconds since the first post, in `area`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    end: f64,
    series: &[Series<'_>],
    moments: &[Moment],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = moments
        .iter()
        .flat_map(|m| series.iter().map(move |(_, value, _)| value(m)))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first post")
        .draw()?;
    for (name, value, color) in series {
        let points = moments.iter().map(|m| (m.second as f64, value(m)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
}
