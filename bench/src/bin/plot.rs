//! Draws latency against connections for each workload and server, from the CSV that
//! `bench/http.sh` writes: `plot results.csv out.svg`.

use plotters::prelude::*;

struct Row {
    workload: String,
    server: String,
    conns: u32,
    p50: f64,
    p99: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = (
        args.get(1).ok_or("usage: plot results.csv out.svg")?,
        args.get(2).ok_or("usage: plot results.csv out.svg")?,
    );
    let rows: Vec<Row> = std::fs::read_to_string(input)?
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(Row {
                workload: f.first()?.to_string(),
                server: f.get(1)?.to_string(),
                conns: f.get(2)?.parse().ok()?,
                p50: f.get(4)?.parse().ok()?,
                p99: f.get(5)?.parse().ok()?,
            })
        })
        .collect();
    let root = SVGBackend::new(output, (1350, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    for (panel, workload) in panels.iter().zip(["thin", "real", "model"]) {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.workload == workload).collect();
        let max = mine.iter().map(|r| r.p99).fold(0.1, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{workload} workload: latency (ms) vs connections"),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d((1u32..128u32).log_scale(), 0.0..max)?;
        chart
            .configure_mesh()
            .x_desc("connections")
            .y_desc("ms")
            .draw()?;
        let series = [
            ("graph", "p50", &BLUE),
            ("graph", "p99", &CYAN),
            ("baseline", "p50", &RED),
            ("baseline", "p99", &MAGENTA),
        ];
        for (server, stat, color) in series {
            let mut points: Vec<(u32, f64)> = mine
                .iter()
                .filter(|r| r.server == server)
                .map(|r| (r.conns, if stat == "p50" { r.p50 } else { r.p99 }))
                .collect();
            points.sort_by_key(|p| p.0);
            chart
                .draw_series(LineSeries::new(points, color))?
                .label(format!("{server} {stat}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
