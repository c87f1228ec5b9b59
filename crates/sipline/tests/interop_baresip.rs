//! A real softphone against `sipline serve`: baresip (Debian package
//! `baresip-core`, installed by `.ci/run`) registers with digest
//! authentication, on 127.0.0.1 with ports picked free.

mod support;

use std::process::Command;
use support::baresip;
use support::serve::ServeOptions;

#[test]
fn baresip_registers_with_digest_auth() {
    assert!(
        baresip::installed(),
        "baresip is not installed: run .ci/run, or apt-get install baresip-core"
    );
    let server = ServeOptions::new("baresip")
        .udp()
        .args(["--domain", "example.test", "--user", "alice:s3cret"])
        .start();
    let addr = server.udp();
    let conf = server.dir().join("baresip");
    std::fs::create_dir_all(&conf).unwrap();

    std::fs::write(
        conf.join("config"),
        "sip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n\
         module account.so\naudio_player nil\naudio_source nil\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!("<sip:alice@example.test>;outbound=\"sip:{addr}\";auth_pass=s3cret;regint=600\n"),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["10", "baresip", "-f"])
        .arg(&conf)
        .args(["-t", "3"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    drop(server);
    assert!(
        text.contains("200 OK (sipline/") && text.contains("[1 binding]"),
        "baresip did not register:\n{text}"
    );
}
