//! Output formats of `/render` (graphite-web's `renderView*`): [`json`],
//! [`csv`], [`raw`] and [`pickle`], plus the runtime consolidation that the
//! JSON format applies for `maxDataPoints` ([`consolidate_for_max_data_points`]).

pub mod csv;
pub mod json;
pub mod pickle;
pub mod raw;

use crate::series::Series;

/// graphite-web's `maxDataPoints` consolidation (JSON only), exactly:
/// with `timeRange = max(end) - min(start)` over all series, a series with
/// more than `max_points` steps in that range gets
/// `vpp = ceil(timeRange / step / max_points)` values per point, its start
/// nudged to a multiple of `vpp * step` (`nudge = spp + start % step -
/// start % spp`) and its first `nudge / step - 1` values dropped, so that
/// buckets stay aligned to absolute time between refreshes. `max_points ==
/// 1` merges each series into one point. `0` leaves the series alone
/// (graphite-web fails with a division by zero).
pub fn consolidate_for_max_data_points(series: &mut [Series], max_points: usize) {
    if max_points == 0 || series.is_empty() {
        return;
    }
    let (Some(start), Some(end)) = (
        series.iter().map(|s| s.start).min(),
        series.iter().map(|s| s.end).max(),
    ) else {
        return;
    };
    let time_range = (end - start) as f64;
    for s in series.iter_mut() {
        if max_points == 1 {
            let len = s.values.len();
            s.consolidate(len);
            continue;
        }
        if s.step <= 0 {
            continue;
        }
        let points = time_range / s.step as f64;
        if (max_points as f64) < points {
            let vpp = (points / max_points as f64).ceil() as i64;
            let spp = vpp * s.step;
            let nudge = spp + s.start.rem_euclid(s.step) - s.start.rem_euclid(spp);
            s.start += nudge;
            let lose = ((nudge / s.step) - 1).clamp(0, s.values.len() as i64) as usize;
            s.values.drain(..lose);
            s.consolidate(vpp as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudge_drops_one_value_fewer_than_the_nudge() {
        // 360 points at 10 s from 1699996410; maxDataPoints 20 -> vpp 18.
        let values: Vec<Option<f64>> = (0..360).map(|i| Some(i as f64)).collect();
        let mut s = vec![Series::new(
            "a",
            1_699_996_410,
            1_700_000_010,
            10,
            values,
            0.0,
        )];
        consolidate_for_max_data_points(&mut s, 20);
        let spp = 180;
        let nudge = spp - 1_699_996_410 % spp;
        assert_eq!(s[0].start, 1_699_996_410 + nudge);
        assert_eq!(s[0].values_per_point, 18);
        assert_eq!(s[0].values[0], Some((nudge / 10 - 1) as f64));
    }

    #[test]
    fn one_point_merges_everything() {
        let mut s = vec![Series::new(
            "a",
            0,
            30,
            10,
            vec![Some(1.0), Some(2.0), Some(3.0)],
            0.0,
        )];
        consolidate_for_max_data_points(&mut s, 1);
        assert_eq!(&*s[0].points(), &[Some(2.0)]);
    }
}
