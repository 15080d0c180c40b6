//! A state-machine test: random operation sequences against the backend and a plain model.

use std::collections::{BTreeMap, HashMap};

use cachette_api::{ErrorKind, Result, Ttl};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};

use crate::Harness;

/// A value of the model: an integer (incrementable) or a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone)]
enum Op {
    Get(usize),
    Set(usize, Value),
    Add(usize, Value),
    Delete(usize),
    HasKey(usize),
    Incr(usize, i64),
    GetMany(Vec<usize>),
    SetMany(Vec<(usize, Value)>),
    DeleteMany(Vec<usize>),
    Touch(usize),
    SetZero(usize, Value),
    Clear,
}

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-1000_i64..1000).prop_map(Value::Int),
        "[a-z0-9]{0,6}".prop_map(Value::Text),
    ]
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => key().prop_map(Op::Get),
        3 => (key(), value()).prop_map(|(k, v)| Op::Set(k, v)),
        2 => (key(), value()).prop_map(|(k, v)| Op::Add(k, v)),
        2 => key().prop_map(Op::Delete),
        1 => key().prop_map(Op::HasKey),
        2 => (key(), -50_i64..50).prop_map(|(k, d)| Op::Incr(k, d)),
        1 => proptest::collection::vec(key(), 0..4).prop_map(Op::GetMany),
        1 => proptest::collection::vec((key(), value()), 0..4).prop_map(Op::SetMany),
        1 => proptest::collection::vec(key(), 0..4).prop_map(Op::DeleteMany),
        1 => key().prop_map(Op::Touch),
        1 => (key(), value()).prop_map(|(k, v)| Op::SetZero(k, v)),
        1 => Just(Op::Clear),
    ]
}

/// Runs random sequences of operations against the backend and against a `BTreeMap`, and
/// compares every answer (a proptest state machine).
pub async fn model_based_random_operations(h: &Harness) -> Result<()> {
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op(), 1..60);
    for round in 0..24 {
        let ops = strategy
            .new_tree(&mut runner)
            .map_err(|e| cachette_api::Error::new(ErrorKind::Backend, e.to_string()))?
            .current();
        let cache = h.handle_of(
            h.builder()
                .with_prefix(format!("{}m{round}", h.prefix()))
                .build()?,
        );
        let mut model: BTreeMap<usize, Value> = BTreeMap::new();
        for (step, op) in ops.iter().enumerate() {
            let context = format!("round {round}, step {step}: {op:?}\nall ops: {ops:?}");
            match op {
                Op::Get(k) => {
                    assert_eq!(
                        cache.get::<Value>(KEYS[*k]).await?,
                        model.get(k).cloned(),
                        "{context}"
                    );
                }
                Op::Set(k, v) => {
                    cache.set(KEYS[*k], v).await?;
                    model.insert(*k, v.clone());
                }
                Op::Add(k, v) => {
                    let stored = cache.add(KEYS[*k], v).await?;
                    assert_eq!(stored, !model.contains_key(k), "{context}");
                    model.entry(*k).or_insert_with(|| v.clone());
                }
                Op::Delete(k) => {
                    assert_eq!(
                        cache.delete(KEYS[*k]).await?,
                        model.remove(k).is_some(),
                        "{context}"
                    );
                }
                Op::HasKey(k) => {
                    assert_eq!(
                        cache.has_key(KEYS[*k]).await?,
                        model.contains_key(k),
                        "{context}"
                    );
                }
                Op::Incr(k, d) => {
                    let got = cache.incr(KEYS[*k], *d).await;
                    match model.get_mut(k) {
                        None => assert_eq!(
                            got.map_err(|e| e.kind()),
                            Err(ErrorKind::NotFound),
                            "{context}"
                        ),
                        Some(Value::Text(_)) => {
                            assert_eq!(
                                got.map_err(|e| e.kind()),
                                Err(ErrorKind::NotInteger),
                                "{context}"
                            )
                        }
                        Some(Value::Int(n)) => {
                            *n += d;
                            assert_eq!(got?, *n, "{context}");
                        }
                    }
                }
                Op::GetMany(ks) => {
                    let names: Vec<&str> = ks.iter().map(|k| KEYS[*k]).collect();
                    let got: HashMap<String, Value> = cache.get_many(&names).await?;
                    let expected: HashMap<String, Value> = ks
                        .iter()
                        .filter_map(|k| model.get(k).map(|v| (KEYS[*k].to_owned(), v.clone())))
                        .collect();
                    assert_eq!(got, expected, "{context}");
                }
                Op::SetMany(entries) => {
                    let failed = cache
                        .set_many(entries.iter().map(|(k, v)| (KEYS[*k], v)))
                        .await?;
                    assert!(failed.is_empty(), "{context}");
                    for (k, v) in entries {
                        model.insert(*k, v.clone());
                    }
                }
                Op::DeleteMany(ks) => {
                    let names: Vec<&str> = ks.iter().map(|k| KEYS[*k]).collect();
                    let mut unique = ks.clone();
                    unique.sort_unstable();
                    unique.dedup();
                    let expected = unique.iter().filter(|k| model.remove(k).is_some()).count();
                    assert_eq!(
                        cache.delete_many(&names).await?,
                        expected as u64,
                        "{context}"
                    );
                }
                Op::Touch(k) => {
                    assert_eq!(
                        cache.touch(KEYS[*k]).await?,
                        model.contains_key(k),
                        "{context}"
                    );
                }
                Op::SetZero(k, v) => {
                    cache.set_opts(KEYS[*k], v, Ttl::secs(0)).await?;
                    model.remove(k);
                }
                Op::Clear => {
                    let expected = model.len() as u64;
                    assert_eq!(cache.clear().await?, expected, "{context}");
                    model.clear();
                }
            }
        }
    }
    Ok(())
}
