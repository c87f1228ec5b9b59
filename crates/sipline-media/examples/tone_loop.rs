//! Sends a 440 Hz tone from one RTP session to another over loopback for
//! two seconds and prints what each side counted.
//!
//! `cargo run -p sipline-media --example tone_loop`

use std::time::Duration;

use sipline_media::tone::dominant_frequency;
use sipline_media::{Codec, MediaConfig, RtpSession, Source};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let local = "127.0.0.1:0".parse().unwrap();
    let caller = RtpSession::bind(local).await?;
    let callee = RtpSession::bind(local).await?;
    let (caller_addr, callee_addr) = (caller.local_addr(), callee.local_addr());

    let caller = caller.start(MediaConfig {
        source: Source::Tone {
            freq_hz: 440.0,
            amplitude: 8000,
        },
        ..MediaConfig::new(callee_addr, Codec::Pcmu)
    });
    let callee = callee.start(MediaConfig {
        record: true,
        ..MediaConfig::new(caller_addr, Codec::Pcmu)
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let sent = caller.stop().await;
    let received = callee.stop().await;
    println!("caller {caller_addr}: {:?}", sent.stats);
    println!("callee {callee_addr}: {:?}", received.stats);
    let heard = dominant_frequency(&received.received_samples, &[350.0, 440.0, 1000.0]);
    println!(
        "callee recorded {} samples, dominant frequency {heard:?} Hz",
        received.received_samples.len()
    );
    Ok(())
}
