//! Simple descriptors of dictionary atoms (issue 7, claim C7: "features the
//! learner finds (localised, edge-like)"), always reported next to the same
//! numbers for random atoms of the same subspace, so "localised" has a
//! baseline.
//!
//! For one atom `a` (a `side x side x channels` patch, channels summed):
//! - localisation = share of the atom's energy `sum a_p^2` held by its
//!   brightest quarter of pixels (by `a_p^2`): 0.25 for a flat atom, 1 for
//!   an atom living on a quarter of the patch;
//! - orientation = share of the strongest of four directional difference
//!   energies `E_d = sum_p (a_{p+d} - a_p)^2`, `d` in {→, ↓, ↘, ↙}: an edge
//!   or grating varies across one direction and not along it, so one `E_d`
//!   dominates; an isotropic blob gives ~0.25.

use nalgebra::DMatrix;
use serde::Serialize;

/// Localisation and orientation of one atom (see the module docs).
pub fn atom_descriptors(atom: &[f64], side: usize, channels: usize) -> (f64, f64) {
    let px = |i: usize, j: usize| -> f64 { (0..channels).map(|c| atom[(i * side + j) * channels + c]).sum() };
    let mut energy: Vec<f64> = (0..side * side).map(|p| px(p / side, p % side).powi(2)).collect();
    let total: f64 = energy.iter().sum();
    let loc = if total > 0.0 {
        energy.sort_by(|a, b| b.total_cmp(a));
        let quarter = (side * side).div_ceil(4);
        energy[..quarter].iter().sum::<f64>() / total
    } else {
        0.0
    };
    let dirs: [(isize, isize); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];
    let mut e = [0.0; 4];
    for (k, (di, dj)) in dirs.iter().enumerate() {
        for i in 0..side as isize {
            for j in 0..side as isize {
                let (i2, j2) = (i + di, j + dj);
                if i2 >= 0 && j2 >= 0 && (i2 as usize) < side && (j2 as usize) < side {
                    e[k] += (px(i2 as usize, j2 as usize) - px(i as usize, j as usize)).powi(2);
                }
            }
        }
    }
    let sum: f64 = e.iter().sum();
    let orient = if sum > 0.0 {
        e.iter().cloned().fold(0.0, f64::max) / sum
    } else {
        0.0
    };
    (loc, orient)
}

/// Mean descriptors of a dictionary's columns.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AtomStats {
    pub localisation: f64,
    pub orientation: f64,
    pub atoms: usize,
}

/// Mean localisation and orientation over the columns of `v` (`n x m`).
pub fn atom_stats(v: &DMatrix<f64>, side: usize, channels: usize) -> AtomStats {
    let m = v.ncols().max(1);
    let (mut l, mut o) = (0.0, 0.0);
    for col in v.column_iter() {
        let a: Vec<f64> = col.iter().copied().collect();
        let (li, oi) = atom_descriptors(&a, side, channels);
        l += li;
        o += oi;
    }
    AtomStats {
        localisation: l / m as f64,
        orientation: o / m as f64,
        atoms: v.ncols(),
    }
}
