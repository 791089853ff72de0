//! Figures (`fsrgan::plots`): every figure kind renders to PNG and SVG, PNGs
//! decode to the expected size and are not blank, SVGs carry their titles,
//! bad paths and empty inputs are errors, and image grids draw every image
//! at the same cell size.
//!
//! Set `FSRGAN_PLOTS_DEMO=/some/dir` to also keep one sample of each figure
//! there for eyeballing.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use fsrgan::plots::{
    BarChart, BarGroup, FitChart, FitLine, Image, LineChart, PlotError, Range, Series, bar_chart,
    dictionary_pairs, dictionary_tiles, image_grid, image_grid_layout, line_chart, loglog_fit, panel_lines,
};

/// Decodes a PNG: (width, height, RGB bytes).
fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(BufReader::new(File::open(path).expect("open png")));
    let mut reader = dec.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn distinct_colors(rgb: &[u8]) -> usize {
    rgb.chunks(3)
        .map(|p| (p[0], p[1], p[2]))
        .collect::<HashSet<_>>()
        .len()
}

fn pixel(rgb: &[u8], width: u32, x: i32, y: i32) -> (u8, u8, u8) {
    let i = (y as usize * width as usize + x as usize) * 3;
    (rgb[i], rgb[i + 1], rgb[i + 2])
}

/// Where to write: a demo dir if requested, else the test's tempdir.
fn out_dir(tmp: &tempfile::TempDir) -> PathBuf {
    match std::env::var_os("FSRGAN_PLOTS_DEMO") {
        Some(d) => {
            std::fs::create_dir_all(&d).expect("demo dir");
            PathBuf::from(d)
        }
        None => tmp.path().to_path_buf(),
    }
}

/// Checks a rendered PNG (size, not blank) and SVG (title present).
fn check_outputs(dir: &Path, stem: &str, title: &str, size: Option<(u32, u32)>) {
    let (w, h, rgb) = read_png(&dir.join(format!("{stem}.png")));
    if let Some((ew, eh)) = size {
        assert_eq!((w, h), (ew, eh), "{stem}.png size");
    }
    assert_eq!(rgb.len(), w as usize * h as usize * 3);
    assert!(distinct_colors(&rgb) > 10, "{stem}.png looks blank");
    let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).expect("svg");
    assert!(svg.starts_with("<svg"), "{stem}.svg is not an SVG");
    assert!(svg.contains(title), "{stem}.svg lacks its title {title:?}");
}

fn learning_curves() -> LineChart {
    let series = (1..=3)
        .map(|l| Series {
            name: format!("level {l}"),
            points: (0..=300)
                .map(|i| {
                    let t = i as f64 * 100.0;
                    let t_l = 2000.0 * l as f64 * l as f64;
                    (t, 0.3 + 0.69 / (1.0 + (-(t - t_l) / 800.0).exp()))
                })
                .collect(),
        })
        .collect();
    LineChart {
        title: "Feature cosine per level".into(),
        x_label: "iteration".into(),
        y_label: "min feature cosine".into(),
        series,
        vlines: vec![
            (2000.0, "t_1".into()),
            (8000.0, "t_2".into()),
            (18000.0, "t_3".into()),
        ],
        hlines: vec![(0.9, "threshold 0.9".into())],
        log_x: false,
        log_y: false,
    }
}

fn checkerboard(h: usize, w: usize) -> Image {
    Image::gray(h, w, (0..h * w).map(|p| ((p / w + p % w) % 2) as f64).collect())
}

fn blob(side: usize, phase: f64) -> Image {
    let mut data = Vec::with_capacity(side * side);
    for r in 0..side {
        for c in 0..side {
            let (y, x) = (r as f64 / side as f64, c as f64 / side as f64);
            data.push((6.0 * x + phase).sin() * (4.0 * y).cos());
        }
    }
    Image::gray(side, side, data)
}

#[test]
fn line_chart_renders_png_and_svg_with_nan_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = out_dir(&tmp);
    let mut chart = learning_curves();
    chart.series[1].points[50].1 = f64::NAN;
    chart.series[2].points[10].0 = f64::INFINITY;
    for ext in ["png", "svg"] {
        line_chart(dir.join(format!("line.{ext}")), &chart).unwrap();
    }
    check_outputs(&dir, "line", &chart.title, Some((800, 500)));
    let svg = std::fs::read_to_string(dir.join("line.svg")).unwrap();
    for text in ["level 1", "t_2", "iteration", "threshold 0.9"] {
        assert!(svg.contains(text), "svg lacks {text:?}");
    }

    // Log axes: non-positive points skipped.
    let mut log = chart.clone();
    log.title = "MMD^2 (log)".into();
    log.log_y = true;
    log.series[0].points[0].1 = 0.0;
    log.series[0].points[1].1 = -1.0;
    line_chart(dir.join("line_log.png"), &log).unwrap();
    let (w, h, rgb) = read_png(&dir.join("line_log.png"));
    assert_eq!((w, h), (800, 500));
    assert!(distinct_colors(&rgb) > 10);
}

#[test]
fn line_chart_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = learning_curves();
    let err = line_chart(tmp.path().join("x.jpg"), &chart).unwrap_err();
    assert!(matches!(err, PlotError::UnsupportedExtension { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("x.jpg") && msg.contains(".png") && msg.contains(".svg"),
        "{msg}"
    );
    assert!(line_chart(tmp.path().join("noext"), &chart).is_err());

    let empty = LineChart {
        title: "empty".into(),
        ..Default::default()
    };
    assert!(matches!(
        line_chart(tmp.path().join("e.png"), &empty),
        Err(PlotError::Empty(_))
    ));
    let all_nan = LineChart {
        series: vec![Series {
            name: "nan".into(),
            points: vec![(f64::NAN, 1.0), (1.0, f64::NAN)],
        }],
        ..Default::default()
    };
    assert!(matches!(
        line_chart(tmp.path().join("n.svg"), &all_nan),
        Err(PlotError::Empty(_))
    ));
    // Nothing positive on a log axis.
    let neg = LineChart {
        series: vec![Series {
            name: "neg".into(),
            points: vec![(1.0, -1.0), (2.0, 0.0)],
        }],
        log_y: true,
        ..Default::default()
    };
    assert!(line_chart(tmp.path().join("neg.png"), &neg).is_err());
    assert!(!tmp.path().join("e.png").exists());
    // Extreme but finite values: an error or a figure, never a panic.
    let huge = LineChart {
        series: vec![Series {
            name: "huge".into(),
            points: vec![(0.0, -f64::MAX), (1.0, f64::MAX)],
        }],
        ..Default::default()
    };
    let _ = line_chart(tmp.path().join("h.png"), &huge);
    let _ = bar_chart(
        tmp.path().join("h.png"),
        &BarChart {
            title: "huge".into(),
            y_label: String::new(),
            categories: vec!["a".into()],
            groups: vec![BarGroup {
                name: "g".into(),
                values: vec![f64::MAX],
                err_lo: vec![],
                err_hi: vec![],
            }],
        },
    );
    let _ = loglog_fit(
        tmp.path().join("h.png"),
        &FitChart {
            points: vec![(f64::MIN_POSITIVE, f64::MAX)],
            ..Default::default()
        },
    );
}

#[test]
fn panel_lines_renders_and_tolerates_an_empty_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = out_dir(&tmp);
    let cos = learning_curves();
    let mut sr = learning_curves();
    sr.title = "SR error".into();
    sr.y_label = "relative error".into();
    for s in &mut sr.series {
        for p in &mut s.points {
            p.1 = 1.05 - p.1;
        }
    }
    sr.hlines.clear();
    let mut mmd = sr.clone();
    mmd.title = "MMD^2".into();
    mmd.y_label = "MMD^2".into();
    mmd.log_y = true;
    for s in &mut mmd.series {
        for p in &mut s.points {
            p.1 = p.1.powi(3) * 0.1;
        }
    }
    let panels = vec![cos, sr, mmd];
    for ext in ["png", "svg"] {
        panel_lines(dir.join(format!("panels.{ext}")), "Learning curves", &panels, 3).unwrap();
    }
    check_outputs(&dir, "panels", "Learning curves", Some((3 * 560, 390 + 44)));

    let mut with_empty = panels.clone();
    with_empty.push(LineChart {
        title: "nothing".into(),
        ..Default::default()
    });
    panel_lines(tmp.path().join("p4.png"), "four", &with_empty, 2).unwrap();
    let (w, h, _) = read_png(&tmp.path().join("p4.png"));
    assert_eq!((w, h), (2 * 560, 2 * 390 + 44));

    assert!(matches!(
        panel_lines(tmp.path().join("p.png"), "none", &[], 2),
        Err(PlotError::Empty(_))
    ));
    assert!(panel_lines(tmp.path().join("p.pdf"), "bad", &panels, 2).is_err());
}

fn complexity_fit() -> FitChart {
    let xs: Vec<f64> = (0..6).map(|i| 16.0 * 2f64.powi(i)).collect();
    let points = xs
        .iter()
        .flat_map(|&x| (0..3).map(move |s| (x, 3.0 * x.powf(1.1) * (1.0 + 0.15 * (s as f64 - 1.0)))))
        .collect();
    let fy: Vec<f64> = xs.iter().map(|&x| 3.0 * x.powf(1.1)).collect();
    FitChart {
        title: "Sample complexity vs n".into(),
        x_label: "n (input dimension)".into(),
        y_label: "iterations to t_L".into(),
        points,
        fits: vec![FitLine {
            name: "fit: slope 1.10 [1.02, 1.18]".into(),
            xs: xs.clone(),
            lo: fy
                .iter()
                .zip(&xs)
                .map(|(y, x)| y * 0.8 / (x.ln() / 3.0))
                .collect(),
            hi: fy
                .iter()
                .zip(&xs)
                .map(|(y, x)| y * 1.25 * (x.ln() / 3.0))
                .collect(),
            y: fy,
        }],
    }
}

#[test]
fn loglog_fit_renders_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = out_dir(&tmp);
    let mut chart = complexity_fit();
    chart.points.push((0.0, 5.0));
    chart.points.push((f64::NAN, 5.0));
    for ext in ["png", "svg"] {
        loglog_fit(dir.join(format!("fit.{ext}")), &chart).unwrap();
    }
    check_outputs(&dir, "fit", &chart.title, Some((800, 520)));

    let mut bad = complexity_fit();
    bad.fits[0].y.pop();
    assert!(matches!(
        loglog_fit(tmp.path().join("b.png"), &bad),
        Err(PlotError::InvalidInput(_))
    ));
    let mut bad_band = complexity_fit();
    bad_band.fits[0].lo.clear();
    assert!(loglog_fit(tmp.path().join("b.png"), &bad_band).is_err());
    assert!(matches!(
        loglog_fit(tmp.path().join("e.svg"), &FitChart::default()),
        Err(PlotError::Empty(_))
    ));
    assert!(loglog_fit(tmp.path().join("f.gif"), &complexity_fit()).is_err());
}

fn ablation() -> BarChart {
    BarChart {
        title: "Ablation: level-2 success".into(),
        y_label: "fraction of seeds with all features >= 0.95".into(),
        categories: vec![
            "joint".into(),
            "top-only".into(),
            "no parent".into(),
            "lambda 0.1".into(),
        ],
        groups: vec![
            BarGroup {
                name: "level 1".into(),
                values: vec![1.0, 0.9, 0.0, 0.95],
                err_lo: vec![0.72, 0.6, 0.0, 0.75],
                err_hi: vec![1.0, 0.98, 0.28, 0.99],
            },
            BarGroup {
                name: "level 2".into(),
                values: vec![0.85, 0.7, f64::NAN, 0.8],
                err_lo: vec![0.6, 0.4, f64::NAN, 0.55],
                err_hi: vec![0.95, 0.88, f64::NAN, 0.93],
            },
        ],
    }
}

#[test]
fn bar_chart_renders_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = out_dir(&tmp);
    let chart = ablation();
    for ext in ["png", "svg"] {
        bar_chart(dir.join(format!("bars.{ext}")), &chart).unwrap();
    }
    check_outputs(&dir, "bars", &chart.title, Some((800, 500)));
    let svg = std::fs::read_to_string(dir.join("bars.svg")).unwrap();
    assert!(svg.contains("top-only") && svg.contains("level 2"));

    let mut bad = ablation();
    bad.groups[0].values.pop();
    assert!(matches!(
        bar_chart(tmp.path().join("b.png"), &bad),
        Err(PlotError::InvalidInput(_))
    ));
    assert!(matches!(
        bar_chart(tmp.path().join("e.png"), &BarChart::default()),
        Err(PlotError::Empty(_))
    ));
    let mut nan = ablation();
    for g in &mut nan.groups {
        g.values.iter_mut().for_each(|v| *v = f64::NAN);
    }
    assert!(bar_chart(tmp.path().join("n.png"), &nan).is_err());
    assert!(bar_chart(tmp.path().join("b.txt"), &ablation()).is_err());
}

#[test]
fn image_grid_renders_every_resolution() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = out_dir(&tmp);
    // 3 samples x 3 resolutions (4x4, 8x8, 16x16), plus an RGB row.
    let mut rows: Vec<Vec<Image>> = (0..3)
        .map(|s| [4, 8, 16].iter().map(|&n| blob(n, s as f64)).collect())
        .collect();
    let rgb_row = [4usize, 8, 16]
        .iter()
        .map(|&n| {
            let mut d = Vec::new();
            for r in 0..n {
                for c in 0..n {
                    d.extend([r as f64 / n as f64, c as f64 / n as f64, 0.5]);
                }
            }
            Image::rgb(n, n, d)
        })
        .collect();
    rows.push(rgb_row);
    rows[1][0].data[3] = f64::NAN;
    let cols: Vec<String> = ["4x4", "8x8", "16x16"].map(String::from).to_vec();
    let row_titles: Vec<String> = ["real 0", "gen 0", "gen 1", "rgb"].map(String::from).to_vec();
    for ext in ["png", "svg"] {
        image_grid(
            dir.join(format!("grid.{ext}")),
            "Samples at every resolution",
            &rows,
            &cols,
            &row_titles,
            Range::Fixed(-1.0, 1.0),
        )
        .unwrap();
    }
    let layout = image_grid_layout(
        "Samples at every resolution",
        &rows,
        &cols,
        &row_titles,
        Range::Fixed(-1.0, 1.0),
    )
    .unwrap();
    assert_eq!(layout.cell, 96);
    check_outputs(
        &dir,
        "grid",
        "Samples at every resolution",
        Some((layout.width, layout.height)),
    );
    for range in [Range::Auto, Range::PerImage] {
        image_grid(tmp.path().join("g.png"), "t", &rows, &[], &[], range).unwrap();
    }
    // Images larger than the cell cap are downsampled to the same cell.
    let big = vec![vec![blob(400, 0.0), blob(8, 0.0)]];
    image_grid(tmp.path().join("big.png"), "big", &big, &[], &[], Range::Auto).unwrap();
    let l = image_grid_layout("big", &big, &[], &[], Range::Auto).unwrap();
    assert_eq!(l.cell, 320);
    let (w, h, _) = read_png(&tmp.path().join("big.png"));
    assert_eq!((w, h), (l.width, l.height));
}

#[test]
fn image_grid_cells_have_the_same_physical_size() {
    let tmp = tempfile::tempdir().unwrap();
    let small = checkerboard(2, 2);
    let big = small.upsample_nearest(4);
    assert_eq!((big.height, big.width), (8, 8));
    let rows = vec![vec![small, big]];
    let path = tmp.path().join("cb.png");
    image_grid(&path, "checkerboard", &rows, &[], &[], Range::Fixed(0.0, 1.0)).unwrap();
    let layout = image_grid_layout("checkerboard", &rows, &[], &[], Range::Fixed(0.0, 1.0)).unwrap();
    let (w, h, rgb) = read_png(&path);
    assert_eq!((w, h), (layout.width, layout.height));
    let cell = layout.cell as i32;
    assert_eq!(cell, 96);
    let (a, b) = (layout.cells[0][0], layout.cells[0][1]);
    assert_eq!(a.1, b.1, "cells on one row");
    assert!(b.0 - a.0 >= cell, "cells overlap");
    for dy in [0, 5, 30, 47, 48, 60, 95] {
        for dx in [0, 7, 40, 47, 48, 70, 95] {
            let want = if (dx / (cell / 2) + dy / (cell / 2)) % 2 == 0 {
                (0, 0, 0)
            } else {
                (255, 255, 255)
            };
            let pa = pixel(&rgb, w, a.0 + dx, a.1 + dy);
            let pb = pixel(&rgb, w, b.0 + dx, b.1 + dy);
            assert_eq!(pa, want, "2x2 image at ({dx}, {dy})");
            assert_eq!(pb, want, "8x8 image at ({dx}, {dy})");
        }
    }
    // Just outside the cell: the border / background, not image.
    let outside = pixel(&rgb, w, a.0 - 1, a.1 + 10);
    assert_ne!(outside, (0, 0, 0));
}

#[test]
fn image_grid_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("g.png");
    let ok = vec![vec![checkerboard(2, 2)]];
    assert!(matches!(
        image_grid(tmp.path().join("g.bmp"), "t", &ok, &[], &[], Range::Auto),
        Err(PlotError::UnsupportedExtension { .. })
    ));
    assert!(matches!(
        image_grid(&p, "t", &[], &[], &[], Range::Auto),
        Err(PlotError::Empty(_))
    ));
    assert!(matches!(
        image_grid(&p, "t", &[vec![]], &[], &[], Range::Auto),
        Err(PlotError::Empty(_))
    ));
    let zero = vec![vec![Image::gray(0, 0, vec![])]];
    assert!(matches!(
        image_grid(&p, "t", &zero, &[], &[], Range::Auto),
        Err(PlotError::InvalidImage(_))
    ));
    let short = vec![vec![Image::gray(2, 2, vec![0.0; 3])]];
    assert!(matches!(
        image_grid(&p, "t", &short, &[], &[], Range::Auto),
        Err(PlotError::InvalidImage(_))
    ));
    let two_ch = vec![vec![Image {
        height: 1,
        width: 1,
        channels: 2,
        data: vec![0.0; 2],
    }]];
    assert!(image_grid(&p, "t", &two_ch, &[], &[], Range::Auto).is_err());
    assert!(matches!(
        image_grid(&p, "t", &ok, &["a".into(), "b".into()], &[], Range::Auto),
        Err(PlotError::InvalidInput(_))
    ));
    assert!(image_grid(&p, "t", &ok, &[], &[], Range::Fixed(1.0, 1.0)).is_err());
    assert!(image_grid(&p, "t", &ok, &[], &[], Range::Fixed(f64::NAN, 1.0)).is_err());
    assert!(!p.exists());
}

#[test]
fn dictionary_figures_render() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = out_dir(&tmp);
    let truth: Vec<Image> = (0..8).map(|i| blob(4, i as f64)).collect();
    let learned: Vec<Image> = truth
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut b = a.clone();
            b.data.iter_mut().enumerate().for_each(|(k, v)| {
                *v = -*v + 0.1 * ((k * 7 + i) % 5) as f64 - 0.2;
            });
            b
        })
        .collect();
    let labels: Vec<String> = (0..8)
        .map(|i| format!("cos {:.2}", 0.99 - 0.03 * i as f64))
        .collect();
    for ext in ["png", "svg"] {
        dictionary_tiles(
            dir.join(format!("dict.{ext}")),
            "Learned dictionary",
            &learned,
            4,
            &labels,
        )
        .unwrap();
        dictionary_pairs(
            dir.join(format!("dict_pairs.{ext}")),
            "True vs learned dictionary",
            &truth,
            &learned,
            &labels,
        )
        .unwrap();
    }
    check_outputs(&dir, "dict", "Learned dictionary", None);
    check_outputs(&dir, "dict_pairs", "True vs learned dictionary", None);
    let svg = std::fs::read_to_string(dir.join("dict_pairs.svg")).unwrap();
    assert!(svg.contains("cos 0.99") && svg.contains("learned"));

    // A long dictionary wraps; unequal lengths and all-zero atoms are fine.
    let many: Vec<Image> = (0..40).map(|i| blob(4, i as f64 * 0.3)).collect();
    let zero = Image::gray(4, 4, vec![0.0; 16]);
    let mut learned_many = many.clone();
    learned_many.truncate(37);
    learned_many.push(zero);
    dictionary_pairs(dir.join("dict_many.png"), "many", &many, &learned_many, &[]).unwrap();
    dictionary_tiles(tmp.path().join("auto.png"), "auto", &many, 0, &[]).unwrap();

    assert!(matches!(
        dictionary_tiles(tmp.path().join("e.png"), "e", &[], 4, &[]),
        Err(PlotError::Empty(_))
    ));
    assert!(matches!(
        dictionary_pairs(tmp.path().join("e.png"), "e", &[], &[], &[]),
        Err(PlotError::Empty(_))
    ));
    assert!(matches!(
        dictionary_tiles(tmp.path().join("l.png"), "l", &truth, 4, &labels[..3]),
        Err(PlotError::InvalidInput(_))
    ));
    assert!(dictionary_pairs(tmp.path().join("d.jpeg"), "x", &truth, &learned, &[]).is_err());
}
