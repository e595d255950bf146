use crate::util::run_ferrograph;

#[test]
fn default_config_is_the_shipped_example() {
    let out = run_ferrograph(&["default-config"]);
    assert!(out.status.success());
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/ferrograph.example.toml"
    ))
    .expect("deploy/ferrograph.example.toml");
    assert_eq!(String::from_utf8_lossy(&out.stdout), shipped);
    let parsed: toml::Value = toml::from_str(&shipped).expect("the example config is valid TOML");
    for section in ["statsd", "carbon", "storage", "render"] {
        assert!(parsed.get(section).is_some(), "section [{section}] missing");
    }
}

/// The graphite-web harness itself answers, so render tests that fail point
/// at ferrograph, not at the harness.
#[test]
fn graphite_web_harness_answers() {
    use crate::util::refs::{
        graphite_web, references_available, register_rich_tags, whisper_fixture, GraphiteRequest,
    };
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    whisper_fixture(dir.path(), "rich", 1_700_000_000, None);
    let answers = graphite_web(
        dir.path(),
        "UTC",
        serde_json::json!({}),
        &[
            register_rich_tags(),
            GraphiteRequest::get(
                "/render/",
                &[
                    ("target", "sumSeries(a.d,a.d)"),
                    ("format", "json"),
                    ("from", "-1min"),
                    ("now", "1700000000"),
                ],
            ),
            GraphiteRequest::get("/tags/findSeries", &[("expr", "dc=us")]),
        ],
    );
    assert_eq!(answers.len(), 3);
    let render: serde_json::Value = serde_json::from_str(&answers[1].body).expect("json");
    // graphite names an aggregate by its unique path expressions
    assert_eq!(render[0]["target"], "sumSeries(a.d)");
    assert_eq!(render[0]["datapoints"][0][0], 201.0);
    assert_eq!(answers[2].body, r#"["disk.used;dc=us;host=h3"]"#);
}
