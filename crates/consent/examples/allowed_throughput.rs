//! How fast the in-memory index answers the ingestion path's question.
//! Run: cargo run --release -p fineline-consent --example allowed_throughput

use std::time::Instant;

use fineline_consent::{
    demo_policy, ConsentIndex, ConsentRecord, ConsentSource, ConsentState, PolicyHistory,
};
use fineline_core::{Pseudonym, Purpose, Timestamp};

fn main() {
    const SUBJECTS: u32 = 10_000;
    const CHANGES: i64 = 50;
    const CHECKS: usize = 5_000_000;
    let v1 = demo_policy(1, Timestamp(0));
    let mut v2 = demo_policy(2, Timestamp(1_000_000));
    v2.purposes[2].recipients.insert("ad network".into());
    let mut index = ConsentIndex::new(PolicyHistory::from_policies([v1.clone(), v2]).unwrap());

    let subject = |i: u32| {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&i.to_be_bytes());
        Pseudonym::new(1, d)
    };
    let start = Instant::now();
    for i in 0..SUBJECTS {
        for c in 0..CHANGES {
            let purpose = Purpose::ALL[(c as usize + i as usize) % 5];
            let state = if c % 3 == 0 {
                ConsentState::Withdrawn
            } else {
                ConsentState::Given
            };
            let r = ConsentRecord::new(
                subject(i),
                &v1,
                purpose,
                state,
                ConsentSource::Api,
                Timestamp(c * 40_000),
            )
            .unwrap();
            index.record(&r);
        }
    }
    let load = start.elapsed();

    let start = Instant::now();
    let mut allowed = 0usize;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..CHECKS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let s = subject((x % u64::from(SUBJECTS)) as u32);
        let p = Purpose::ALL[((x >> 20) % 5) as usize];
        let at = Timestamp(((x >> 32) % 2_500_000) as i64);
        allowed += usize::from(index.allowed(&s, p, at));
    }
    let check = start.elapsed();
    // The ingestion path's usual shape: a batch of one subject's events.
    let start = Instant::now();
    let mut batch_allowed = 0usize;
    for i in 0..1_000u32 {
        let s = subject(i * 7 % SUBJECTS);
        for e in 0..5_000i64 {
            let p = Purpose::ALL[(e % 5) as usize];
            batch_allowed += usize::from(index.allowed(&s, p, Timestamp(e * 500)));
        }
    }
    let batch = start.elapsed();
    println!(
        "batched: 1000 subjects x 5000 events in {batch:?} ({:.0} ns each, {batch_allowed} allowed)",
        batch.as_nanos() as f64 / 5_000_000.0
    );
    println!(
        "random: recorded {} changes for {SUBJECTS} subjects in {load:?}; \
         {CHECKS} allowed() checks in {check:?} ({:.0} ns each, {allowed} allowed)",
        i64::from(SUBJECTS) * CHANGES,
        check.as_nanos() as f64 / CHECKS as f64
    );
}
