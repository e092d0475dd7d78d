//! Framework overhead, each against its hand-written equivalent in the same run:
//! - a call through a deployment handle vs a direct call of the same async fn (per hop);
//! - a 3-way fan-out + ensemble graph vs the same code with `tokio::join!`;
//! - routing over 1 vs 8 replicas;
//! - per hop, a target polled inline on the caller's task vs one on a thread of its own.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use serve_runtime::{Handle, deployment, graph};

async fn trivial(x: u64) -> u64 {
    x.wrapping_mul(31).wrapping_add(7)
}

#[deployment]
#[derive(Default)]
struct Trivial;

#[deployment]
impl Trivial {
    async fn step(&self, x: u64) -> u64 {
        trivial(x).await
    }
}

const HOPS: u64 = 1000;

/// Calls `Trivial` through its handle `HOPS` times, so the graph's own entry cost is
/// amortised away and what is left is the per-hop cost.
#[deployment]
struct Caller {
    target: Handle<Trivial>,
}

#[deployment]
impl Caller {
    fn new(target: Handle<Trivial>) -> Self {
        Caller { target }
    }

    async fn hops(&self, x: u64) -> Result<u64, serve_runtime::Error> {
        let mut acc = x;
        for _ in 0..HOPS {
            acc = self.target.step(acc).await?;
        }
        Ok(acc)
    }
}

#[graph]
async fn hops(x: u64) -> u64 {
    let caller = Caller::bind(Trivial::bind());
    caller.hops(x)
}

async fn direct_hops(x: u64) -> u64 {
    let mut acc = x;
    for _ in 0..HOPS {
        acc = black_box(trivial(black_box(acc)).await);
    }
    acc
}

#[deployment]
async fn branch(x: u64, salt: u64) -> u64 {
    trivial(x ^ salt).await
}

#[deployment]
async fn combine(a: u64, b: u64, c: u64) -> u64 {
    a ^ b ^ c
}

#[graph]
async fn fan_out(x: u64) -> u64 {
    let a = branch(x, 1);
    let b = branch(x, 2);
    let c = branch(x, 3);
    combine(a, b, c)
}

async fn fan_out_by_hand(x: u64) -> u64 {
    async fn branch(x: u64, salt: u64) -> u64 {
        trivial(x ^ salt).await
    }
    let (a, b, c) = tokio::join!(branch(x, 1), branch(x, 2), branch(x, 3));
    a ^ b ^ c
}

/// About a microsecond of arithmetic: a small model's worth of work, to see the per-node
/// cost against nodes that do something.
fn work(x: u64) -> u64 {
    let mut acc = x;
    for i in 0..1000u64 {
        acc = black_box(acc.rotate_left(5) ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    acc
}

#[deployment]
async fn busy_branch(x: u64, salt: u64) -> u64 {
    work(x ^ salt)
}

#[graph]
async fn busy_fan_out(x: u64) -> u64 {
    let a = busy_branch(x, 1);
    let b = busy_branch(x, 2);
    let c = busy_branch(x, 3);
    combine(a, b, c)
}

async fn busy_fan_out_by_hand(x: u64) -> u64 {
    async fn branch(x: u64, salt: u64) -> u64 {
        work(x ^ salt)
    }
    let (a, b, c) = tokio::join!(branch(x, 1), branch(x, 2), branch(x, 3));
    a ^ b ^ c
}

#[deployment(num_replicas = 8)]
#[derive(Default)]
struct Wide;

#[deployment]
impl Wide {
    async fn step(&self, x: u64) -> u64 {
        trivial(x).await
    }
}

#[graph]
async fn one_replica(x: u64) -> u64 {
    let t = Trivial::bind();
    t.step(x)
}

#[graph]
async fn eight_replicas(x: u64) -> u64 {
    let w = Wide::bind();
    w.step(x)
}

/// `Trivial` with `executor = threads`: each call is handed to the replica's own thread and
/// its answer handed back, so a hop is a round trip between two threads.
#[deployment(executor = threads)]
#[derive(Default)]
struct ThreadTrivial;

#[deployment]
impl ThreadTrivial {
    async fn step(&self, x: u64) -> u64 {
        trivial(x).await
    }
}

/// `Caller`, with the number of hops given per request: criterion's `iter_custom` asks for
/// `iters` hops in one request, so what it reports is the time of one hop (the request's
/// own cost is a constant the regression over sample sizes sets apart).
macro_rules! counted_caller {
    ($caller:ident, $target:ident) => {
        #[deployment]
        struct $caller {
            target: Handle<$target>,
        }

        #[deployment]
        impl $caller {
            fn new(target: Handle<$target>) -> Self {
                $caller { target }
            }

            async fn hops(&self, x: u64, n: u64) -> Result<u64, serve_runtime::Error> {
                let mut acc = x;
                for _ in 0..n {
                    acc = self.target.step(acc).await?;
                }
                Ok(acc)
            }
        }
    };
}

counted_caller!(InlineCaller, Trivial);
counted_caller!(ThreadCaller, ThreadTrivial);

#[graph]
async fn inline_hops(x: u64, n: u64) -> u64 {
    let caller = InlineCaller::bind(Trivial::bind());
    caller.hops(x, n)
}

#[graph]
async fn thread_hops(x: u64, n: u64) -> u64 {
    let caller = ThreadCaller::bind(ThreadTrivial::bind());
    caller.hops(x, n)
}

/// Per-hop time of `graph`: one request of `iters` hops per sample.
async fn time_hops<G>(graph: &serve_runtime::GraphHandle<G>, iters: u64) -> std::time::Duration
where
    G: serve_runtime::Graph<Input = (u64, u64), Output = u64>,
{
    let started = Instant::now();
    black_box(graph.call((black_box(3), iters)).await.unwrap());
    started.elapsed()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (hops, fan, busy, one, eight) = rt.block_on(async {
        (
            serve_runtime::start(hops).await.unwrap(),
            serve_runtime::start(fan_out).await.unwrap(),
            serve_runtime::start(busy_fan_out).await.unwrap(),
            serve_runtime::start(one_replica).await.unwrap(),
            serve_runtime::start(eight_replicas).await.unwrap(),
        )
    });
    assert_eq!(
        rt.block_on(hops.call(3)).unwrap(),
        rt.block_on(direct_hops(3))
    );
    assert_eq!(
        rt.block_on(fan.call(3)).unwrap(),
        rt.block_on(fan_out_by_hand(3))
    );

    let mut g = c.benchmark_group("hop_x1000");
    g.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| direct_hops(black_box(3)))
    });
    g.bench_function("handle", |b| {
        b.to_async(&rt).iter(|| hops.call(black_box(3)))
    });
    g.finish();

    let mut g = c.benchmark_group("fan_out_3");
    g.bench_function("join", |b| {
        b.to_async(&rt).iter(|| fan_out_by_hand(black_box(3)))
    });
    g.bench_function("graph", |b| b.to_async(&rt).iter(|| fan.call(black_box(3))));
    g.finish();

    assert_eq!(
        rt.block_on(busy.call(3)).unwrap(),
        rt.block_on(busy_fan_out_by_hand(3))
    );
    let mut g = c.benchmark_group("fan_out_3_busy");
    g.bench_function("join", |b| {
        b.to_async(&rt).iter(|| busy_fan_out_by_hand(black_box(3)))
    });
    g.bench_function("graph", |b| {
        b.to_async(&rt).iter(|| busy.call(black_box(3)))
    });
    g.finish();

    let mut g = c.benchmark_group("routing");
    g.bench_function("replicas_1", |b| {
        b.to_async(&rt).iter(|| one.call(black_box(3)))
    });
    g.bench_function("replicas_8", |b| {
        b.to_async(&rt).iter(|| eight.call(black_box(3)))
    });
    g.finish();

    let (inline, threads) = rt.block_on(async {
        (
            serve_runtime::start(inline_hops).await.unwrap(),
            serve_runtime::start(thread_hops).await.unwrap(),
        )
    });
    let expected = rt.block_on(direct_hops(3));
    assert_eq!(rt.block_on(inline.call((3, HOPS))).unwrap(), expected);
    assert_eq!(rt.block_on(threads.call((3, HOPS))).unwrap(), expected);
    let mut g = c.benchmark_group("thread_hop");
    g.bench_function("inline", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| time_hops(&inline, iters))
    });
    g.bench_function("threads", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| time_hops(&threads, iters))
    });
    g.finish();
}

criterion_group!(overhead, benches);
criterion_main!(overhead);
