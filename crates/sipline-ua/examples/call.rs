//! Calls a URI with a 440 Hz tone, talks for three seconds, hangs up.
//!
//! Run: `cargo run -p sipline-ua --example call -- sip:bob@127.0.0.1:5070`

use sipline_media::Source;
use sipline_ua::media::{CallMedia, MediaOptions};
use sipline_ua::{CallEvent, Config, UserAgent};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sip:bob@127.0.0.1:5070".into());
    let (ua, _incoming) = UserAgent::start(Config::new("sip:alice@127.0.0.1")?).await?;
    let mut options = MediaOptions::new("127.0.0.1".parse()?);
    options.source = Source::Tone {
        freq_hz: 440.0,
        amplitude: 8000,
    };
    let mut media = CallMedia::bind(options).await?;
    let mut call = ua.call(target.parse()?, Some(media.offer())).await?;
    while let Some(event) = call.next_event().await {
        println!("{event:?}");
        match event {
            CallEvent::Answered {
                body: Some(answer), ..
            } => {
                media.accept_answer(&answer)?;
                media.start()?;
                tokio::time::sleep(Duration::from_secs(3)).await;
                call.hangup().await?;
            }
            CallEvent::Ended { .. } => break,
            _ => {}
        }
    }
    if let Some(report) = media.stop().await {
        println!(
            "sent {}, received {} RTP packets",
            report.stats.packets_sent, report.stats.packets_received
        );
    }
    Ok(())
}
