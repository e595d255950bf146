//! storage-schemas.conf / storage-aggregation.conf against carbon's own
//! loader (carbon 1.1.10): carbon's shipped example files, ferrograph's
//! built-in defaults and files with every kind of bad section must select
//! the same retentions, xFilesFactor and method for the same names, and be
//! refused where carbon refuses them.

use std::path::{Path, PathBuf};

use storage::schema::{AggregationRules, Schemas, DEFAULT_AGGREGATION, DEFAULT_SCHEMAS};

use crate::util::mismatch;
use crate::util::refs::{references_available, refs_prefix, run_ref_script};

const NAMES: &[&str] = &[
    "carbon.agents.host-a.cpuUsage",
    "stats.timers.api.upper_90",
    "stats.timers.api.lower",
    "stats.timers.api.count",
    "stats.timers.api.sum_90",
    "stats.timers.api.mean",
    "stats_counts.hits",
    "stats.hits",
    "stats.gauges.queue",
    "stats.sets.users.count",
    "stats.counters.x.rate",
    "stats.counters.x.count",
    "servers.web1.cpu.min",
    "servers.web1.cpu.max",
    "servers.web1.cpu",
    "requests.count",
    "a.b.carbon.c",
    "disk.used;host=a;dc=eu",
    "x.upper_top10",
    "min",
    ".min",
];

/// carbon's answer for each name, or its fatal error.
fn carbon(schemas: &str, aggregation: &str) -> Result<Vec<serde_json::Value>, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("storage-schemas.conf"), schemas).unwrap();
    std::fs::write(dir.path().join("storage-aggregation.conf"), aggregation).unwrap();
    let stdout = run_ref_script(
        "whisper_schemas.py",
        &[dir.path()],
        (NAMES.join("\n") + "\n").as_bytes(),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    match lines.first().and_then(|l| l.get("fatal")) {
        Some(f) => Err(f.to_string()),
        None => Ok(lines),
    }
}

fn ours(schemas: &str, aggregation: &str) -> Result<Vec<serde_json::Value>, String> {
    let s = Schemas::parse(schemas, "storage-schemas.conf").map_err(|e| e.to_string())?;
    let a = AggregationRules::parse(aggregation, "storage-aggregation.conf")
        .map_err(|e| e.to_string())?;
    Ok(NAMES
        .iter()
        .map(|n| {
            let rule = s.lookup(n);
            let agg = a.lookup(n);
            serde_json::json!({
                "schema": rule.name, "archives": rule.archives,
                "xff": agg.x_files_factor, "method": agg.method.map(|m| m.name()),
            })
        })
        .collect())
}

fn compare(what: &str, schemas: &str, aggregation: &str, failures: &mut Vec<String>) {
    let (theirs, mine) = (carbon(schemas, aggregation), ours(schemas, aggregation));
    match (&theirs, &mine) {
        (Ok(t), Ok(m)) => {
            for ((name, t), m) in NAMES.iter().zip(t).zip(m) {
                // carbon keeps archives in file order; whisper sorts them at create
                let mut t = t.clone();
                if let Some(a) = t["archives"].as_array_mut() {
                    a.sort_by_key(|x| x[0].as_u64());
                }
                if &t != m {
                    failures.push(mismatch(
                        &format!("{what}: {name}"),
                        &t.to_string(),
                        &m.to_string(),
                    ));
                }
            }
        }
        (Err(_), Err(_)) => {}
        _ => failures.push(mismatch(
            &format!("{what}: accepted/refused"),
            &format!("{theirs:?}"),
            &format!("{mine:?}"),
        )),
    }
}

fn example(name: &str) -> String {
    let p: PathBuf = refs_prefix().join("venv/conf").join(name);
    std::fs::read_to_string(Path::new(&p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn schemas_and_aggregation_match_carbon() {
    if !references_available() {
        return;
    }
    let mut failures = Vec::new();
    let carbon_schemas = example("storage-schemas.conf.example");
    let carbon_aggregation = example("storage-aggregation.conf.example");
    compare(
        "carbon's example files",
        &carbon_schemas,
        &carbon_aggregation,
        &mut failures,
    );
    compare(
        "ferrograph's defaults",
        DEFAULT_SCHEMAS,
        DEFAULT_AGGREGATION,
        &mut failures,
    );
    let skipped = "[nopattern]\nretentions = 60:10\n\n[noretentions]\npattern = x\n\n[invalid_archives]\npattern = ^stats\nretentions = 60:10,60:20\n\n[Upper]\nPattern = \\.upper\nRetentions = 10s:1h , 1m:1d\n\n[catch]\npattern = .\nretentions = 1m:30d\n";
    let agg_skipped = "[text_xff]\npattern = count\nxFilesFactor = half\n\n[nopattern]\nxFilesFactor = 0.2\n\n[partial]\npattern = \\.upper\naggregationMethod = max\n\n[xffonly]\npattern = ^stats\nxFilesFactor = 0.25\n";
    compare("skipped sections", skipped, agg_skipped, &mut failures);
    compare(
        "fallbacks",
        "[only]\npattern = ^stats\\.\nretentions = 10s:1d\n",
        "",
        &mut failures,
    );
    compare(
        "bad retention",
        "[x]\npattern = .\nretentions = 10sec:1h\n",
        "",
        &mut failures,
    );
    compare(
        "xff out of range",
        "",
        "[x]\npattern = .\nxFilesFactor = 1.5\n",
        &mut failures,
    );
    compare(
        "unknown method",
        "",
        "[x]\npattern = .\naggregationMethod = median\n",
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
