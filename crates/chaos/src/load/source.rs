//! What each sender sends next: new clicks with resends mixed in, or the
//! same fixed clicks round after round.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::Workload;
use crate::clicks::{ClickKey, ClickNames};

/// Recent requests a sender may resend.
const RECENT: usize = 64;

/// One request, kept for retries and resends.
#[derive(Debug, Clone)]
pub struct Request {
    pub keys: Vec<ClickKey>,
    pub body: Bytes,
    pub batch: bool,
}

/// Where a sender's requests come from.
pub enum Source {
    Fresh {
        namespace: u32,
        next_seq: u32,
        batch_share: f64,
        batch_max: u32,
        resend_share: f64,
        recent: VecDeque<Request>,
        rng: StdRng,
    },
    Fixed {
        keys: Arc<Vec<ClickKey>>,
        order: Vec<usize>,
        rounds_left: u32,
        position: usize,
        batch: u32,
        rng: StdRng,
    },
}

impl Source {
    pub fn new(workload: &Workload, index: usize, seed: u64) -> Self {
        let rng = StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match workload {
            Workload::Fresh {
                batch_share,
                batch_max,
                resend_share,
            } => Self::Fresh {
                namespace: u32::try_from(index).unwrap_or(u32::MAX),
                next_seq: 0,
                batch_share: *batch_share,
                batch_max: (*batch_max).clamp(2, 1000),
                resend_share: *resend_share,
                recent: VecDeque::with_capacity(RECENT),
                rng,
            },
            Workload::Fixed {
                keys,
                rounds,
                batch_sizes,
            } => Self::Fixed {
                order: (0..keys.len()).collect(),
                keys: Arc::clone(keys),
                rounds_left: *rounds,
                position: keys.len(),
                batch: batch_sizes
                    .get(index % batch_sizes.len().max(1))
                    .copied()
                    .unwrap_or(1)
                    .clamp(1, 1000),
                rng,
            },
        }
    }

    /// The next request; `None` when a fixed workload is done.
    pub fn next(&mut self, names: &ClickNames) -> Option<Request> {
        match self {
            Self::Fresh {
                namespace,
                next_seq,
                batch_share,
                batch_max,
                resend_share,
                recent,
                rng,
            } => {
                if !recent.is_empty() && rng.random_bool(*resend_share) {
                    let pick = rng.random_range(0..recent.len());
                    return recent.get(pick).cloned();
                }
                let count = if rng.random_bool(*batch_share) {
                    rng.random_range(2..=*batch_max)
                } else {
                    1
                };
                let keys: Vec<ClickKey> = (0..count)
                    .map(|i| ClickKey {
                        namespace: *namespace,
                        seq: *next_seq + i,
                    })
                    .collect();
                *next_seq += count;
                let request = build(names, keys, count > 1);
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(request.clone());
                Some(request)
            }
            Self::Fixed {
                keys,
                order,
                rounds_left,
                position,
                batch,
                rng,
            } => {
                if *position >= order.len() {
                    if *rounds_left == 0 {
                        return None;
                    }
                    *rounds_left -= 1;
                    order.shuffle(rng);
                    *position = 0;
                }
                let end = (*position + *batch as usize).min(order.len());
                let chunk: Vec<ClickKey> = order[*position..end].iter().map(|i| keys[*i]).collect();
                *position = end;
                Some(build(names, chunk, *batch > 1))
            }
        }
    }
}

fn build(names: &ClickNames, keys: Vec<ClickKey>, batch: bool) -> Request {
    let body = if batch {
        names.batch_body(&keys)
    } else {
        names.single_body(keys[0])
    };
    Request { keys, body, batch }
}
