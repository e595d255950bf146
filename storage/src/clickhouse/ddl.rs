//! carbon-clickhouse's tables, created exactly as its README declares them,
//! and the periodic `OPTIMIZE … PARTITION … FINAL` that makes ClickHouse
//! apply the roll-up to partitions that would otherwise never merge.

use super::client::{quote, ClickHouseError, Client};
use super::config::ClickHouseSettings;

/// The name of the local table under a Distributed one.
pub fn local_table(table: &str) -> String {
    format!("{table}_local")
}

/// The three CREATE statements (points, index, tagged), each with `IF NOT
/// EXISTS`. With a cluster, the MergeTree tables are `<table>_local` and
/// `<table>` is a Distributed table over them, sharded by
/// `cityHash64(Path)` so one path always lives on one shard (the
/// ReplacingMergeTree and GraphiteMergeTree merges then see every version
/// of a row).
pub fn create_statements(s: &ClickHouseSettings) -> Vec<String> {
    let engines = [
        (
            &s.points_table,
            "(Path String, Value Float64, Time UInt32, Date Date, Timestamp UInt32)",
            "ENGINE = GraphiteMergeTree('graphite_rollup') PARTITION BY toYYYYMM(Date) ORDER BY (Path, Time)",
        ),
        (
            &s.index_table,
            "(Date Date, Level UInt32, Path String, Version UInt32)",
            "ENGINE = ReplacingMergeTree(Version) PARTITION BY toYYYYMM(Date) ORDER BY (Level, Path, Date)",
        ),
        (
            &s.tagged_table,
            "(Date Date, Tag1 String, Path String, Tags Array(String), Version UInt32)",
            "ENGINE = ReplacingMergeTree(Version) PARTITION BY toYYYYMM(Date) ORDER BY (Tag1, Path, Date)",
        ),
    ];
    let mut out = Vec::new();
    for (table, columns, engine) in engines {
        match &s.cluster {
            None => out.push(format!(
                "CREATE TABLE IF NOT EXISTS {}.{table} {columns} {engine}",
                s.database
            )),
            Some(cluster) => {
                let local = local_table(table);
                out.push(format!(
                    "CREATE TABLE IF NOT EXISTS {}.{local} {columns} {engine}",
                    s.database
                ));
                out.push(format!(
                    "CREATE TABLE IF NOT EXISTS {db}.{table} {columns} \
                     ENGINE = Distributed({cluster}, {db}, {local}, cityHash64(Path))",
                    db = s.database
                ));
            }
        }
    }
    out
}

/// Creates the tables that are missing on the server `client` talks to.
pub fn init(client: &Client, s: &ClickHouseSettings) -> Result<Vec<String>, ClickHouseError> {
    let statements = create_statements(s);
    for sql in &statements {
        client.execute(sql)?;
    }
    Ok(statements)
}

/// Which partitions [`optimize`] considers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partitions {
    /// Only those whose newest row is before today (UTC): the scheduled
    /// run leaves the partition being written alone.
    Old,
    /// Every partition.
    All,
}

/// Runs `OPTIMIZE TABLE … PARTITION p FINAL` on each partition of the
/// points table (its local table on a cluster) that has several active
/// parts or a part never merged (level 0): those whose roll-up ClickHouse
/// has not applied. Returns the partitions optimized.
pub fn optimize(
    client: &Client,
    s: &ClickHouseSettings,
    which: Partitions,
) -> Result<Vec<String>, ClickHouseError> {
    let table = match &s.cluster {
        Some(_) => local_table(&s.points_table),
        None => s.points_table.clone(),
    };
    let age = match which {
        Partitions::Old => " HAVING max(max_date) < today()",
        Partitions::All => "",
    };
    let sql = format!(
        "SELECT partition FROM system.parts WHERE database = {} AND table = {} AND active \
         GROUP BY partition HAVING (count() > 1 OR min(level) = 0){} ORDER BY partition \
         FORMAT TabSeparatedRaw",
        quote(&s.database),
        quote(&table),
        age.replace(" HAVING", " AND")
    );
    let partitions: Vec<String> = client
        .query_text(&sql)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    for partition in &partitions {
        // partition ids of toYYYYMM are plain numbers
        if !partition.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        client.execute(&format!(
            "OPTIMIZE TABLE {}.{table} PARTITION {partition} FINAL",
            s.database
        ))?;
    }
    Ok(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_carbon_clickhouse_ones() {
        let s = ClickHouseSettings::default();
        let sql = create_statements(&s);
        assert_eq!(sql.len(), 3);
        assert_eq!(
            sql[0],
            "CREATE TABLE IF NOT EXISTS default.graphite (Path String, Value Float64, Time UInt32, \
             Date Date, Timestamp UInt32) ENGINE = GraphiteMergeTree('graphite_rollup') PARTITION BY \
             toYYYYMM(Date) ORDER BY (Path, Time)"
        );
        let clustered = ClickHouseSettings {
            cluster: Some("shards".into()),
            ..ClickHouseSettings::default()
        };
        let sql = create_statements(&clustered);
        assert_eq!(sql.len(), 6);
        assert!(sql[1]
            .ends_with("ENGINE = Distributed(shards, default, graphite_local, cityHash64(Path))"));
    }
}
