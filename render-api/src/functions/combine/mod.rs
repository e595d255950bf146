//! graphite-web's "Combine" group: functions that merge several series
//! into fewer (sumSeries, averageSeries, aggregate, asPercent, groupBy*,
//! map/reduce, ...).
//!
//! Most of them are `aggregate` with a fixed function: the inputs are
//! normalized to the LCM of their steps (each consolidated lazily with its
//! own consolidation function) and combined row by row, rows padded with
//! nulls to the longest series. graphite mutates its inputs while doing so
//! (`normalize` sets `valuesPerPoint` on them); where that is observable
//! (asPercent's results keep the input's step but hold consolidated values)
//! it is reproduced.
//!
//! - [`aggregate`]: `aggregate` and its fixed-function forms (sumSeries,
//!   `*SeriesLists`, `*WithWildcards`, ...), the column folds behind them
//!   ([`ColumnFold`], [`Streamable`]) and the other row-wise combiners;
//! - [`percent`]: asPercent, divideSeries(Lists), weightedAverage;
//! - [`group`]: group, mapSeries/reduceSeries, groupBy*, applyByNode.
//!
//! The shared parameter lists and [`Groups`] (first-seen grouping) live
//! here.

mod aggregate;
mod group;
mod percent;

use std::collections::HashMap;

use crate::series::Series;

use super::{Param, ParamType, Registry};

pub use aggregate::{ColumnFold, Streamable};

pub(super) fn register(r: &mut Registry) {
    aggregate::register(r);
    percent::register(r);
    group::register(r);
}

const SERIES_LISTS: &[Param] = &[Param::new("seriesLists", ParamType::SeriesList)
    .required()
    .multiple()];

const OPTIONAL_SERIES_LISTS: &[Param] =
    &[Param::new("seriesLists", ParamType::SeriesList).multiple()];

const TWO_LISTS: &[Param] = &[
    Param::new("seriesListFirstPos", ParamType::SeriesList).required(),
    Param::new("seriesListSecondPos", ParamType::SeriesList).required(),
];

const WILDCARD_PARAMS: &[Param] = &[
    Param::new("seriesList", ParamType::SeriesList).required(),
    Param::new("position", ParamType::Node).multiple(),
];

/// Groups in first-seen order of their keys.
struct Groups {
    keys: Vec<String>,
    members: HashMap<String, Vec<Series>>,
}

impl Groups {
    fn new() -> Groups {
        Groups {
            keys: Vec::new(),
            members: HashMap::new(),
        }
    }

    fn push(&mut self, key: String, series: Series) {
        match self.members.get_mut(&key) {
            Some(list) => list.push(series),
            None => {
                self.keys.push(key.clone());
                self.members.insert(key, vec![series]);
            }
        }
    }

    /// `(key, members)` in first-seen order.
    fn into_ordered(mut self) -> Vec<(String, Vec<Series>)> {
        self.keys
            .into_iter()
            .map(|k| {
                let members = self.members.remove(&k).unwrap_or_default();
                (k, members)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{eval_one, MemoryRead};

    fn hosts() -> MemoryRead {
        MemoryRead::new()
            .with("h.web1.cpu", 0, 10, &[Some(1.0), Some(2.0), None])
            .with("h.web2.cpu", 0, 10, &[Some(3.0), None, None])
            .with("h.db1.cpu", 0, 10, &[Some(5.0), Some(6.0), Some(7.0)])
            .with("t.web1.cpu", 0, 10, &[Some(10.0), Some(10.0), Some(10.0)])
            .with("t.web2.cpu", 0, 10, &[Some(20.0), Some(0.0), Some(10.0)])
    }

    #[test]
    fn sum_skips_nulls_and_names_by_path_expression() {
        let read = MemoryRead::new()
            .with("a.x", 0, 10, &[Some(1.0), None, Some(3.0)])
            .with("a.y", 0, 10, &[Some(10.0), None, None]);
        let out = eval_one(&read, "sumSeries(a.*)", -10, 20);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "sumSeries(a.*)");
        assert_eq!(out[0].values, vec![Some(11.0), None, Some(3.0)]);
        assert_eq!(out[0].tags["aggregatedBy"], "sum");
        assert_eq!(out[0].tags["name"], "sumSeries(a.*)");
        let out = eval_one(&read, "sum(a.x, a.y)", -10, 20);
        assert_eq!(out[0].name, "sumSeries(a.x,a.y)");
        assert!(eval_one(&read, "sumSeries()", -10, 20).is_empty());
    }

    #[test]
    fn different_steps_average_into_the_lcm() {
        let fine: Vec<Option<f64>> = (1..=6).map(|i| Some(i as f64)).collect();
        let read = MemoryRead::new().with("fine", 0, 10, &fine).with(
            "coarse",
            0,
            30,
            &[Some(100.0), Some(200.0)],
        );
        let out = eval_one(&read, "sumSeries(fine, coarse)", -10, 50);
        assert_eq!(out[0].step, 30);
        assert_eq!(out[0].values, vec![Some(102.0), Some(205.0)]);
    }

    #[test]
    fn aggregate_and_average() {
        let read = MemoryRead::new()
            .with("a.x", 0, 10, &[Some(1.0), None])
            .with("a.y", 0, 10, &[Some(3.0), Some(4.0)]);
        assert_eq!(
            eval_one(&read, "avg(a.*)", -10, 10)[0].values,
            vec![Some(2.0), Some(4.0)]
        );
        let out = eval_one(&read, "aggregate(a.*, 'maxSeries')", -10, 10);
        assert_eq!(out[0].name, "maxSeries(a.*)");
        assert_eq!(out[0].values, vec![Some(3.0), Some(4.0)]);
        let out = eval_one(&read, "aggregate(a.*, 'sum', 0.6)", -10, 10);
        assert_eq!(out[0].values, vec![Some(4.0), None]);
        assert!(eval_one(&read, "sumSeries(nothing.*)", -10, 10).is_empty());
        let out = eval_one(&read, "diffSeries(a.x, a.y)", -10, 10);
        assert_eq!(out[0].values, vec![Some(-2.0), Some(4.0)]);
        let out = eval_one(&read, "multiplySeries(a.x, a.y)", -10, 10);
        assert_eq!(out[0].values, vec![Some(3.0), None]);
        let out = eval_one(&read, "multiplySeries(a.x)", -10, 10);
        assert_eq!(out[0].name, "a.x");
        let out = eval_one(&read, "rangeOfSeries(a.*)", -10, 10);
        assert_eq!(out[0].name, "rangeOfSeries(a.*)");
        assert_eq!(out[0].values, vec![Some(2.0), Some(0.0)]);
    }

    #[test]
    fn series_lists_pair_by_position() {
        let out = eval_one(&hosts(), "sumSeriesLists(h.web*.cpu, t.web*.cpu)", -10, 20);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "sumSeries(h.web1.cpu,t.web1.cpu)");
        assert_eq!(out[0].values, vec![Some(11.0), Some(12.0), Some(10.0)]);
        let out = eval_one(
            &hosts(),
            "divideSeriesLists(h.web*.cpu, t.web*.cpu)",
            -10,
            20,
        );
        assert_eq!(out[1].name, "divideSeries(h.web2.cpu,t.web2.cpu)");
        assert_eq!(out[1].values, vec![Some(0.15), None, None]);
    }

    #[test]
    fn wildcards_group_by_remaining_nodes() {
        let out = eval_one(&hosts(), "sumSeriesWithWildcards(*.web1.cpu, 0)", -10, 20);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "web1.cpu");
        assert_eq!(out[0].values, vec![Some(11.0), Some(12.0), Some(10.0)]);
        let out = eval_one(
            &hosts(),
            "aggregateWithWildcards(h.*.cpu, 'max', 1)",
            -10,
            20,
        );
        assert_eq!(out[0].name, "h.cpu");
        assert_eq!(out[0].values, vec![Some(5.0), Some(6.0), Some(7.0)]);
    }

    #[test]
    fn group_by_node_and_nodes() {
        let out = eval_one(&hosts(), "groupByNode(*.*.cpu, 1, 'sum')", -10, 20);
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db1", "web1", "web2"]);
        assert_eq!(out[1].values, vec![Some(11.0), Some(12.0), Some(10.0)]);
        let out = eval_one(
            &hosts(),
            "groupByNodes(*.*.cpu, 'maxSeries', 0, 2)",
            -10,
            20,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["h.cpu", "t.cpu"]);
        let out = eval_one(&hosts(), "groupByNode(scale(h.*.cpu, 2), 1)", -10, 20);
        assert_eq!(out[0].name, "db1");
        assert_eq!(out[0].values[0], Some(10.0));
    }

    #[test]
    fn as_percent_forms() {
        let out = eval_one(&hosts(), "asPercent(h.web*.cpu)", -10, 20);
        assert_eq!(out[0].name, "asPercent(h.web1.cpu,sumSeries(h.web*.cpu))");
        assert_eq!(out[0].values, vec![Some(25.0), Some(100.0), None]);
        let out = eval_one(&hosts(), "asPercent(h.web1.cpu, 4)", -10, 20);
        assert_eq!(out[0].name, "asPercent(h.web1.cpu,4)");
        assert_eq!(out[0].values, vec![Some(25.0), Some(50.0), None]);
        let out = eval_one(&hosts(), "asPercent(h.web*.cpu, t.web*.cpu)", -10, 20);
        assert_eq!(out[1].name, "asPercent(h.web2.cpu,t.web2.cpu)");
        assert_eq!(out[1].values, vec![Some(15.0), None, None]);
        let out = eval_one(
            &hosts(),
            "asPercent(group(h.web1.cpu, h.db1.cpu), t.*.cpu, 1)",
            -10,
            20,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "asPercent(h.web1.cpu,t.web1.cpu)",
                "asPercent(h.db1.cpu,MISSING)",
                "asPercent(MISSING,t.web2.cpu)"
            ]
        );
        assert_eq!(out[0].values, vec![Some(10.0), Some(20.0), None]);
        assert_eq!(out[1].values, vec![None; 3]);
        assert_eq!((out[2].start, out[2].step), (0, 10));
        // graphite fails when the first group has no total: nothing was
        // normalized yet to take a window from
        let expr = crate::target::parse_target("asPercent(h.*.cpu, t.*.cpu, 1)").unwrap();
        let read = hosts();
        let mut ev = crate::eval::Evaluator::new(&read, Default::default());
        assert!(ev
            .evaluate_targets(&crate::eval::Context::new(-10, 20), &[expr])
            .is_err());
    }

    #[test]
    fn count_percentile_pow_and_group() {
        let out = eval_one(&hosts(), "countSeries(h.*.cpu)", -10, 20);
        assert_eq!(out[0].values, vec![Some(3.0); 3]);
        let out = eval_one(&hosts(), "countSeries()", -10, 20);
        assert_eq!(out[0].name, "0");
        assert_eq!(out[0].path_expression, "countSeries()");
        let out = eval_one(&hosts(), "percentileOfSeries(h.*.cpu, 50)", -10, 20);
        assert_eq!(out[0].name, "percentileOfSeries(h.*.cpu,50)");
        assert_eq!(out[0].values, vec![Some(3.0), Some(6.0), Some(7.0)]);
        let out = eval_one(&hosts(), "powSeries(h.db1.cpu, t.web1.cpu)", -10, 20);
        assert_eq!(out[0].values[0], Some(5f64.powf(10.0)));
        let out = eval_one(&hosts(), "group(h.db1.cpu, t.*.cpu)", -10, 20);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn map_reduce_and_weighted_average() {
        let read = MemoryRead::new()
            .with("srv.s1.disk.used", 0, 10, &[Some(1.0), None])
            .with("srv.s1.disk.total", 0, 10, &[Some(4.0), Some(4.0)])
            .with("srv.s2.disk.used", 0, 10, &[Some(3.0), Some(1.0)])
            .with("srv.s2.disk.total", 0, 10, &[Some(6.0), Some(0.0)]);
        let out = eval_one(
            &read,
            "reduceSeries(mapSeries(srv.*.disk.*, 1), 'asPercent', 3, 'used', 'total')",
            -10,
            10,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "srv.s1.disk.reduce.asPercent",
                "srv.s2.disk.reduce.asPercent"
            ]
        );
        assert_eq!(out[0].values, vec![Some(25.0), None]);
        assert_eq!(out[1].values, vec![Some(50.0), None]);
        let out = eval_one(
            &hosts(),
            "weightedAverage(h.web*.cpu, t.web*.cpu, 1)",
            -10,
            20,
        );
        assert_eq!(out[0].name, "weightedAverage(h.web*.cpu, t.web*.cpu, 1)");
        // (1*10 + 3*20) / 30
        assert_eq!(out[0].values[0], Some(70.0 / 30.0));
    }
}
