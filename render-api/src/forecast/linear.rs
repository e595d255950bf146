//! The linear forecast: a robust least-squares line (Huber weights by
//! iteratively reweighted least squares, so spikes and outages barely move
//! it) plus, when the history holds at least two seasons, two harmonics of
//! the season, fitted together so that a daily wave neither biases the
//! slope nor counts as noise.

use super::Model;

/// Huber's tuning constant (95% efficiency on normal noise).
const HUBER_K: f64 = 1.345;

/// Reweighting rounds; the fit settles long before.
const ROUNDS: usize = 30;

/// A fitted line in days relative to the end of the history (`t = 0` is
/// `until`), with its seasonal swing.
pub(super) struct LinearFit {
    /// Level at `t = 0`.
    pub level: f64,
    /// Slope per day.
    pub slope: f64,
    /// Covariance of `(level, slope)`.
    cov: [[f64; 2]; 2],
    /// Residual standard error.
    pub sigma: f64,
    /// Lowest and highest value of the fitted seasonal wave.
    pub swing: (f64, f64),
}

impl Model for LinearFit {
    fn trend(&self, days: f64) -> f64 {
        self.level + self.slope * days
    }

    /// The seasonal swing plus 1.96 standard errors of a new value there.
    fn band(&self, days: f64) -> (f64, f64) {
        let c = &self.cov;
        let var_trend = c[0][0] + 2.0 * days * c[0][1] + days * days * c[1][1];
        let spread = 1.96 * (var_trend.max(0.0) + self.sigma * self.sigma).sqrt();
        (self.swing.0 - spread, self.swing.1 + spread)
    }

    fn slope_per_day(&self) -> f64 {
        self.slope
    }
}

/// Fits `values` at `days` (relative to `until`); `season_days` adds the
/// season's first two harmonics. `None` with fewer than three points.
pub(super) fn fit(days: &[f64], values: &[f64], season_days: Option<f64>) -> Option<LinearFit> {
    let span = days.last()? - days.first()?;
    let season = season_days.filter(|s| *s > 0.0 && span >= 2.0 * s);
    let columns = if season.is_some() { 6 } else { 2 };
    if values.len() <= columns {
        return None;
    }
    let row = |t: f64| -> Vec<f64> {
        let mut r = vec![1.0, t];
        if let Some(s) = season {
            let w = std::f64::consts::TAU * t / s;
            r.extend([w.sin(), w.cos(), (2.0 * w).sin(), (2.0 * w).cos()]);
        }
        r
    };
    let rows: Vec<Vec<f64>> = days.iter().map(|t| row(*t)).collect();
    let mut weights = vec![1.0; values.len()];
    let mut coef = vec![0.0; columns];
    let mut inverse = Vec::new();
    for _ in 0..ROUNDS {
        let (c, inv) = weighted_least_squares(&rows, values, &weights)?;
        coef = c;
        inverse = inv;
        let residuals: Vec<f64> = residuals(&rows, values, &coef);
        let scale = 1.4826 * median(residuals.iter().map(|r| r.abs()).collect());
        if scale <= f64::EPSILON {
            break;
        }
        let next: Vec<f64> = residuals
            .iter()
            .map(|r| (HUBER_K * scale / r.abs().max(f64::MIN_POSITIVE)).min(1.0))
            .collect();
        let moved = next
            .iter()
            .zip(&weights)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        weights = next;
        if moved < 1e-6 {
            break;
        }
    }
    let residuals = residuals(&rows, values, &coef);
    let weight_sum: f64 = weights.iter().sum();
    let sigma2 = residuals
        .iter()
        .zip(&weights)
        .map(|(r, w)| w * r * r)
        .sum::<f64>()
        / (weight_sum - columns as f64).max(1.0);
    let swing = match season {
        None => (0.0, 0.0),
        Some(s) => (0..96)
            .map(|i| {
                let r = row(s * i as f64 / 96.0);
                (2..6).map(|j| r[j] * coef[j]).sum::<f64>()
            })
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            }),
    };
    Some(LinearFit {
        level: coef[0],
        slope: coef[1],
        cov: [
            [sigma2 * inverse[0][0], sigma2 * inverse[0][1]],
            [sigma2 * inverse[1][0], sigma2 * inverse[1][1]],
        ],
        sigma: sigma2.sqrt(),
        swing,
    })
}

fn residuals(rows: &[Vec<f64>], values: &[f64], coef: &[f64]) -> Vec<f64> {
    rows.iter()
        .zip(values)
        .map(|(r, y)| y - r.iter().zip(coef).map(|(x, c)| x * c).sum::<f64>())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Solves the weighted normal equations; returns the coefficients and
/// `(XᵀWX)⁻¹`. `None` when singular.
fn weighted_least_squares(
    rows: &[Vec<f64>],
    values: &[f64],
    weights: &[f64],
) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let p = rows.first()?.len();
    let mut normal = vec![vec![0.0; p]; p];
    let mut rhs = vec![0.0; p];
    for ((r, y), w) in rows.iter().zip(values).zip(weights) {
        for i in 0..p {
            rhs[i] += w * r[i] * y;
            for j in 0..p {
                normal[i][j] += w * r[i] * r[j];
            }
        }
    }
    let inverse = invert(normal)?;
    let coef = (0..p)
        .map(|i| (0..p).map(|j| inverse[i][j] * rhs[j]).sum())
        .collect();
    Some((coef, inverse))
}

/// Gauss-Jordan inversion with partial pivoting.
fn invert(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for row in 0..n {
            if row != col {
                let f = a[row][col];
                if f != 0.0 {
                    for j in 0..n {
                        a[row][j] -= f * a[col][j];
                        inv[row][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_line_under_a_wave_and_outliers() {
        let days: Vec<f64> = (0..24 * 20).map(|h| -20.0 + h as f64 / 24.0).collect();
        let mut values: Vec<f64> = days
            .iter()
            .map(|t| 50.0 + 2.0 * t + 5.0 * (std::f64::consts::TAU * t).sin())
            .collect();
        values[100] = 1e6;
        let f = fit(&days, &values, Some(1.0)).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-3, "{}", f.slope);
        assert!((f.level - 50.0).abs() < 0.05, "{}", f.level);
        assert!((f.swing.1 - 5.0).abs() < 0.05 && (f.swing.0 + 5.0).abs() < 0.05);
    }
}
