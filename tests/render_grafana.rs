//! Replays the requests Grafana's Graphite data source sends (frontend and
//! backend mode) against `ferrograph web` over a real socket, and checks
//! the response shapes Grafana parses.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::util::refs::{references_available, whisper_fixture};
use crate::util::web::Web;

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection.
fn http(addr: &str, method: &str, target: &str, form: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect to ferrograph web");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = form.unwrap_or("");
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json, text/plain, */*\r\n\
         User-Agent: Grafana/10.4.0\r\nX-Grafana-Org-Id: 1\r\nConnection: close\r\n"
    );
    if form.is_some() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: body.to_string(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn assert_render_shape(v: &Value) {
    let list = v.as_array().expect("render answers a JSON array");
    assert!(!list.is_empty(), "no series");
    for s in list {
        assert!(s["target"].is_string(), "{s}");
        assert!(s["tags"].is_object(), "{s}");
        assert!(s["tags"]["name"].is_string(), "{s}");
        for p in s["datapoints"].as_array().expect("datapoints") {
            let pair = p.as_array().expect("[value, ts]");
            assert_eq!(pair.len(), 2);
            assert!(pair[0].is_number() || pair[0].is_null(), "{p}");
            assert!(pair[1].is_i64(), "{p}");
        }
    }
}

#[test]
fn grafana_requests_get_the_shapes_grafana_parses() {
    if !references_available() {
        return;
    }
    // Grafana sends no `now`: the fixture ends at the wall clock.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let now = wall - wall % 60;
    let dir = tempfile::tempdir().expect("temp dir");
    whisper_fixture(dir.path(), "rich", now, None);
    let mut web = Web::start(dir.path(), None);
    let addr = web.addr.to_string();

    // version autodetect: semver >= 1.1 enables tags and /functions
    let v = http(&addr, "GET", "/version", None);
    assert_eq!(v.status, 200);
    let parts: Vec<u32> = v
        .body
        .trim()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        parts.len() == 3 && parts[0] == 1 && parts[1] >= 1,
        "{}",
        v.body
    );

    // function editor: read as text, must be valid JSON without Infinity
    let f = http(&addr, "GET", "/functions", None);
    assert_eq!(f.status, 200);
    assert!(!f.body.contains("Infinity"));
    // JavaScript reads 1e9999 as Infinity; serde_json needs it quoted
    let funcs: Value =
        serde_json::from_str(&f.body.replace("1e9999", "\"1e9999\"")).expect("/functions is JSON");
    let sum = &funcs["sumSeries"];
    for key in ["name", "function", "description", "group"] {
        assert!(sum[key].is_string(), "sumSeries.{key}");
    }
    for p in sum["params"].as_array().expect("params") {
        assert!(p["name"].is_string() && p["type"].is_string(), "{p}");
    }

    // panel query, frontend path: POST form, relative times, maxDataPoints
    let panel = form(&[
        ("target", "sumSeries(hosts.*.cpu.user)"),
        ("target", "movingAverage(a.c, '5min')"),
        ("from", "-6h"),
        ("until", "now"),
        ("format", "json"),
        ("maxDataPoints", "300"),
    ]);
    let r = http(&addr, "POST", "/render", Some(&panel));
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json"),
        "{}",
        r.body
    );
    let series = r.json();
    assert_render_shape(&series);
    assert_eq!(series.as_array().unwrap().len(), 2);
    assert!(series[0]["datapoints"].as_array().unwrap().len() <= 300);

    // panel query, backend path: epoch seconds, one target per request
    let backend = form(&[
        ("from", &(now - 3600).to_string()),
        ("until", &now.to_string()),
        ("format", "json"),
        ("maxDataPoints", "1200"),
        ("target", "scale(a.b, 2)"),
    ]);
    let r = http(&addr, "POST", "/render", Some(&backend));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_render_shape(&r.json());

    // annotations from a target: maxDataPoints=100
    let annotation = format!(
        "/render?target=a.b&from={}&until={}&format=json&maxDataPoints=100",
        now - 7200,
        now
    );
    let r = http(&addr, "GET", &annotation, None);
    assert_render_shape(&r.json());

    // query editor and `*` template variables: POST /metrics/find
    let r = http(
        &addr,
        "POST",
        &format!("/metrics/find?from={}&until={}", now - 3600, now),
        Some("query=*"),
    );
    assert_eq!(r.status, 200);
    let nodes = r.json();
    let names: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert!(n["expandable"].is_i64() && n["leaf"].is_i64() && n["id"].is_string());
            n["text"].as_str().unwrap()
        })
        .collect();
    for want in ["a", "hosts", "gaps"] {
        assert!(names.contains(&want), "{names:?}");
    }
    let r = http(
        &addr,
        "POST",
        "/metrics/find",
        Some("query=hosts.%7Bweb1%7D.cpu.*"),
    );
    assert_eq!(r.json().as_array().unwrap().len(), 2, "{}", r.body);

    // expand(...) template variables
    let r = http(
        &addr,
        "GET",
        "/metrics/expand?query=hosts.*.cpu.user&from=-1h&until=now",
        None,
    );
    assert_eq!(
        r.json()["results"],
        serde_json::json!([
            "hosts.db1.cpu.user",
            "hosts.web1.cpu.user",
            "hosts.web2.cpu.user"
        ])
    );

    // tags(...) and tag_values(...) variables, the seriesByTag editor
    let tags = http(
        &addr,
        "GET",
        "/tags/autoComplete/tags?expr=name%3Ddisk.used&tagPrefix=&limit=10000&from=-6h&until=now",
        None,
    );
    assert_eq!(
        tags.json(),
        serde_json::json!(["dc", "host"]),
        "{}",
        tags.body
    );
    let values = http(
        &addr,
        "GET",
        "/tags/autoComplete/values?expr=name%3Ddisk.used&tag=host&valuePrefix=&limit=10000",
        None,
    );
    assert_eq!(values.json(), serde_json::json!(["h1", "h2", "h3"]));
    let list = http(&addr, "GET", "/tags", None).json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["tag"] == "dc" && t["id"].is_i64()));
    let dc = http(&addr, "GET", "/tags/dc", None).json();
    let dc_values: Vec<&str> = dc["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(dc_values, ["eu", "us"]);
    let tagged = form(&[
        ("target", "seriesByTag('name=disk.used', 'dc=eu')"),
        ("from", "-1h"),
        ("until", "now"),
        ("format", "json"),
        ("maxDataPoints", "100"),
    ]);
    let r = http(&addr, "POST", "/render", Some(&tagged));
    assert_render_shape(&r.json());

    // threshold lines and legend rewriting the query editor wraps around a
    // panel's targets: constantLine(100) (alone and aliased) and aliasSub
    // with a `\1` back-reference, over a glob and over an aggregate
    // (graphite names constantLine(100) "100.0": its value is a float parameter)
    let wrapped = form(&[
        ("target", "constantLine(100)"),
        ("target", "alias(constantLine(100), 'limit')"),
        (
            "target",
            r"aliasSub(hosts.*.cpu.user, '^hosts\.([^.]+)\.cpu\.user$', '\1')",
        ),
        (
            "target",
            r"aliasSub(sumSeries(hosts.*.cpu.user), 'sumSeries\((.*)\)', 'total of \1')",
        ),
        ("from", "-6h"),
        ("until", "now"),
        ("format", "json"),
        ("maxDataPoints", "300"),
    ]);
    let r = http(&addr, "POST", "/render", Some(&wrapped));
    assert_eq!(r.status, 200, "{}", r.body);
    let series = r.json();
    assert_render_shape(&series);
    let names: Vec<&str> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "100.0",
            "limit",
            "db1",
            "web1",
            "web2",
            "total of hosts.*.cpu.user"
        ],
        "{}",
        r.body
    );
    for line in &series.as_array().unwrap()[..2] {
        let points = line["datapoints"].as_array().unwrap();
        assert!(points.len() >= 2, "{line}");
        assert!(
            points.iter().all(|p| p[0].as_f64() == Some(100.0)),
            "{line}"
        );
    }
    for s in &series.as_array().unwrap()[2..] {
        let points = s["datapoints"].as_array().unwrap();
        assert!(points.iter().any(|p| p[0].is_number()), "{s}");
        assert!(points.len() <= 300, "{s}");
    }

    // errors are plain text with a 4xx, never an HTML page
    let bad = form(&[("target", "sumSeries(a.*"), ("format", "json")]);
    let r = http(&addr, "POST", "/render", Some(&bad));
    assert_eq!(r.status, 400);
    assert!(!r.body.trim_start().starts_with('<'), "{}", r.body);
    let r = http(
        &addr,
        "POST",
        "/render",
        Some(&form(&[
            ("target", "noSuchFunction(a.b)"),
            ("format", "json"),
        ])),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("noSuchFunction"), "{}", r.body);

    let status = web.guard.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "ferrograph web exits cleanly on SIGTERM"
    );
}
