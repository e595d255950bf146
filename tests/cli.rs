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
