//! Fuzz-style: through the real HTTP app, any correctly signed body gets 202
//! or a 4xx — never a 5xx, never a dropped connection — and exactly the
//! answer the domain parsers give (202 when they accept it, 400 when not).

use crate::support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use support::Ingest;
use testkit::TestStream;

const CASES: u32 = 400;

fn valid_click(n: u32) -> Value {
    json!({
        "click_id": format!("fuzz-{n}"),
        "offer_id": 12345,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    })
}

/// A byte-level mutation of a document: a byte replaced, inserted or removed.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        match mutation {
            Mutation::Replace(at, byte) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            Mutation::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
            Mutation::Remove(at) if !bytes.is_empty() => {
                bytes.remove(at.index(bytes.len()));
            }
            _ => {}
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
    ]
}

/// A body for one of the two webhooks: valid documents damaged a little
/// (mostly still JSON, often of the wrong shape), or bytes of any kind.
fn body() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let document = (any::<bool>(), 0u32..1_000_000, 1usize..4).prop_map(|(batch, n, count)| {
        let value = if batch {
            json!({"clicks": (0..count as u32).map(|i| valid_click(n + i)).collect::<Vec<_>>()})
        } else {
            valid_click(n)
        };
        (batch, serde_json::to_vec(&value).expect("json"))
    });
    prop_oneof![
        3 => (document, prop::collection::vec(mutation(), 0..4))
            .prop_map(|((batch, bytes), mutations)| (batch, mutate(bytes, &mutations))),
        1 => (any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)),
    ]
}

#[test]
fn any_signed_body_gets_202_or_a_4xx_as_the_parsers_decide() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stream = TestStream::create();
    let ingest = runtime.block_on(Ingest::start(&stream.redis_url, &stream.key, &[]));

    let mut runner = TestRunner::new(Config {
        cases: CASES,
        // No regression files: the failing input is in the panic message.
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&body(), |(batch, bytes)| {
        let path = if batch {
            "/api/webhook/clicks/batch"
        } else {
            "/api/webhook/clicks"
        };
        let accepted = if batch {
            domain::parse_batch(&bytes).is_ok()
        } else {
            domain::parse_click(&bytes).is_ok()
        };
        let (status, answer) = runtime.block_on(async {
            let response = ingest.post_signed(path, bytes.clone()).await;
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
        let expected = if accepted { 202 } else { 400 };
        if status != expected {
            return Err(TestCaseError::fail(format!(
                "{path} answered {status} {answer}, the parsers say {expected}"
            )));
        }
        Ok(())
    });
    runtime.block_on(async {
        ingest.stop().await;
        stream.drop().await;
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
