//! Guards the patched woothee (edge-worker/vendor/woothee: regex-lite instead of regex, for the bundle size):
//! every User-Agent of woothee's own cross-language test sets must still read exactly as crates.io's woothee
//! 0.13.0 with the full regex crate read it. `data/woothee-testsets.json` holds those readings, recorded once
//! from the unpatched crate (see edge-worker/vendor/README.md for how to record them again).

use edge_worker::enrich::classify_user_agent;

/// `[user agent, browser, browser version, os, os version, device, vendor]`, as the unpatched crate read it.
const READINGS: &str = include_str!("data/woothee-testsets.json");

#[test]
fn every_user_agent_of_woothees_test_sets_reads_as_the_unpatched_parser_read_it() {
    let readings: Vec<[String; 7]> = serde_json::from_str(READINGS).expect("the readings file is JSON");
    assert!(readings.len() > 200, "the whole test set is checked, not a sample");
    let mut differing = Vec::new();
    for [user_agent, browser, browser_version, os, os_version, device, vendor] in &readings {
        let info = classify_user_agent(user_agent);
        let read = [&info.browser, &info.browser_version, &info.os, &info.os_version, &info.device, &info.vendor];
        if read != [browser, browser_version, os, os_version, device, vendor] {
            differing.push(format!("{user_agent:?}: read {read:?}"));
        }
    }
    assert!(
        differing.is_empty(),
        "{} of {} read differently:\n{}",
        differing.len(),
        readings.len(),
        differing.join("\n")
    );
}
