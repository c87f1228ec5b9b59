//! A real softphone against `sipline serve`: baresip (Debian package
//! `baresip-core`, installed by `.ci/run`) registers with digest
//! authentication, on 127.0.0.1 with ports picked free.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn baresip_registers_with_digest_auth() {
    assert!(
        Command::new("baresip").arg("-h").output().is_ok(),
        "baresip is not installed: run .ci/run, or apt-get install baresip-core"
    );
    let dir = std::env::temp_dir().join(format!("sipline-baresip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("baresip")).unwrap();

    let mut server = Command::new(env!("CARGO_BIN_EXE_sipline"))
        .args([
            "serve",
            "--listen",
            "udp:127.0.0.1:0",
            "--domain",
            "example.test",
        ])
        .args(["--user", "alice:s3cret", "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let addr = banner.trim().rsplit("udp:").next().unwrap().to_string();

    std::fs::write(
        dir.join("baresip/config"),
        "sip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n\
         module account.so\naudio_player nil\naudio_source nil\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("baresip/accounts"),
        format!("<sip:alice@example.test>;outbound=\"sip:{addr}\";auth_pass=s3cret;regint=600\n"),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["10", "baresip", "-f"])
        .arg(dir.join("baresip"))
        .args(["-t", "3"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        text.contains("200 OK (sipline/") && text.contains("[1 binding]"),
        "baresip did not register:\n{text}"
    );
}
