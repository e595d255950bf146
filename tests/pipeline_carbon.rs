//! carbon's protocols into `ferrograph serve`: plaintext (TCP, UDP) and
//! pickle points come back through `/render`, tagged names through
//! `seriesByTag`, and bad input next to good input loses nothing.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use crate::util::refs::{references_available, run_ref_code};
use crate::util::serve::{write_config, Serve};

const WAIT: Duration = Duration::from_secs(15);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[test]
fn plaintext_and_pickle_points_reach_render() {
    if !references_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "", "");
    let serve = Serve::start(&config, &dir.path().join("data"));
    let t = now() - 5;

    // Plaintext over TCP with a bad line between two good ones.
    let mut tcp = TcpStream::connect(serve.carbon_plaintext.expect("plaintext")).expect("connect");
    write!(
        tcp,
        "app.plain.a 5 {t}\nthis is not a carbon line\napp.plain.b 7 {t}\n\
         disk.used;host=h1;dc=eu 3 {t}\n"
    )
    .expect("send plaintext");
    drop(tcp);
    // Plaintext over UDP.
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .send_to(
            format!("app.udp.c 11 {t}\n").as_bytes(),
            serve.carbon_udp.expect("udp"),
        )
        .expect("send udp");
    // Pickle, framed as carbon clients frame it, built by Python's pickle.
    let pickle_addr = serve.carbon_pickle.expect("pickle");
    let sender = format!(
        "import pickle, socket, struct\n\
         payload = pickle.dumps([('app.pickle.d', ({t}, 13.5)), ('app.pickle.e', ({t}, -2.0))], protocol=2)\n\
         s = socket.create_connection(('{}', {}))\n\
         s.sendall(struct.pack('!L', len(payload)) + payload)\n\
         s.close()\n",
        pickle_addr.ip(),
        pickle_addr.port()
    );
    run_ref_code(&sender);

    for (target, expected) in [
        ("app.plain.a", 5.0),
        ("app.plain.b", 7.0),
        ("app.udp.c", 11.0),
        ("app.pickle.d", 13.5),
        ("app.pickle.e", -2.0),
        ("seriesByTag('dc=eu')", 3.0),
    ] {
        assert_eq!(
            serve.wait_for_sum(target, "-2min", expected, WAIT),
            expected,
            "{target}"
        );
    }
    // Tags are canonicalised (sorted) as graphite-web expects.
    let tagged = serve.render("seriesByTag('name=disk.used')", "-2min");
    assert_eq!(tagged[0]["target"], "disk.used;dc=eu;host=h1");
    serve.stop(WAIT);
}
