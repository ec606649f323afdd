//! Ten thousand generated hostile requests per run through the real server, over
//! keep-alive connections, sixteen at a time: odd numbers, invisible and unnormalized
//! ids, escapes, duplicate and missing keys, BOMs, truncations, oversized bodies, bad
//! content types and keys, garbage trace headers, many headers. Every request knows
//! by construction whether it is valid (not by asking the service's validator): valid
//! ones get 202, the others a 4xx, none a 5xx, and the topic holds exactly the 202s.
//!
//! Seeds that once failed, and a few fixed ones, are replayed first from
//! `proptest-regressions/hostile_requests.txt`; new failures are appended there.

use std::cell::Cell;

use futures::stream::{self, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

use crate::helpers::{spawn_app, TestApp};

/// A value and whether it obeys the rules.
type Judged<T> = (T, bool);

#[derive(Clone)]
struct Hostile {
    body: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    valid: bool,
}

/// Short enough to read in a failure message: the body's first 300 characters, the
/// header lines' first 80.
impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect();
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let value: String = String::from_utf8_lossy(v).chars().take(80).collect();
                format!("{n}: {value}")
            })
            .collect();
        write!(
            f,
            "{{valid: {}, body ({} bytes): {body:?}, headers: {headers:?}}}",
            self.valid,
            self.body.len()
        )
    }
}

const CASES: u32 = 100;
const REQUESTS_PER_CASE: usize = 100;
const CONCURRENCY: usize = 16;

fn customer_id() -> impl Strategy<Value = Judged<String>> {
    let valid = prop_oneof![
        "[a-zA-Z0-9._@-]{1,40}",
        Just("Zo\u{EB}".to_owned()),
        Just("c-\u{1F600}".to_owned()),
        Just("\u{65E5}\u{672C}\u{8A9E}-id".to_owned()),
        Just("c-\u{1F469}\u{200D}\u{1F4BB}".to_owned()),
        Just(format!("{}\u{E9}", "a".repeat(126))),
        Just("\u{1F600}".repeat(32)),
        Just("a b".to_owned()),
    ]
    .prop_map(|id| (id, true));
    let invisible = prop::sample::select(vec![
        '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', ' ', '\u{3000}',
        '\u{3164}', '\u{FE0F}',
    ]);
    let bidi = prop::sample::select(vec![
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
    ]);
    let control = prop::sample::select(vec![
        '\u{0}', '\n', '\r', '\t', '\u{1B}', '\u{7F}', '\u{85}',
    ]);
    let invalid = prop_oneof![
        Just(String::new()),
        prop::collection::vec(invisible, 1..6).prop_map(|cs| cs.into_iter().collect()),
        ("[a-z0-9-]{1,20}", bidi, any::<prop::sample::Index>()).prop_map(|(id, c, at)| {
            let mut chars: Vec<char> = id.chars().collect();
            let i = at.index(chars.len() + 1);
            chars.insert(i, c);
            chars.into_iter().collect()
        }),
        ("[a-z0-9-]{1,20}", control).prop_map(|(id, c)| format!("{id}{c}")),
        "[a-z]{0,10}".prop_map(|id| format!("{id}Zoe\u{0308}")),
        "[a-z]{0,10}".prop_map(|id| format!("{id}e\u{0301}")),
        (129usize..200).prop_map(|n| "x".repeat(n)),
        Just(format!("{}\u{E9}", "a".repeat(127))),
        Just(format!("a{}", "\u{1F600}".repeat(32))),
    ]
    .prop_map(|id| (id, false));
    prop_oneof![6 => valid, 2 => invalid]
}

/// JSON string literal for `text`; with `escape_all`, every non-ASCII character as
/// `\uXXXX` (surrogate pairs beyond the BMP), which means the same string.
fn json_string(text: &str, escape_all: bool) -> String {
    let plain = serde_json::to_string(text).expect("strings serialize");
    if !escape_all {
        return plain;
    }
    let mut out = String::new();
    for c in plain.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn sku() -> impl Strategy<Value = Judged<String>> {
    prop_oneof![
        6 => "[A-Za-z0-9][A-Za-z0-9._-]{0,20}".prop_map(|s| (json_string(&s, false), true)),
        1 => prop::sample::select(vec![
            r#""""#, r#"" A""#, r#""SK\u00dc""#, r#""-A""#, r#""A\u0000""#, r#""A B""#,
            "1", "null", r#"["A"]"#,
        ])
        .prop_map(|s| (s.to_owned(), false)),
        1 => Just((json_string(&"A".repeat(65), false), false)),
    ]
}

fn quantity() -> impl Strategy<Value = Judged<String>> {
    prop_oneof![
        6 => (1i64..=100).prop_map(|q| (q.to_string(), true)),
        2 => prop::sample::select(vec![
            "0", "101", "-1", "1e0", "1E0", "-0", "100.0", "1.5", "1.0e2", r#""1""#, "null",
            "true", "99999999999999999999", "-9223372036854775809", "1e400", "[1]", "{}",
            "01", "+1", "0x1", "NaN", "Infinity",
        ])
        .prop_map(|q| (q.to_owned(), false)),
        1 => any::<i64>().prop_map(|q| (q.to_string(), (1..=100).contains(&q))),
    ]
}

#[derive(Debug, Clone)]
enum Shape {
    AsIs,
    Reversed,
    Padded(usize),
    Duplicate(usize),
    Missing(usize),
    Unknown,
    Bom,
    Truncated(f64),
    InArray,
    Oversized,
    Bytes(Vec<u8>),
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        8 => Just(Shape::AsIs),
        2 => Just(Shape::Reversed),
        2 => (0usize..3000).prop_map(Shape::Padded),
        1 => (0usize..3).prop_map(Shape::Duplicate),
        1 => (0usize..3).prop_map(Shape::Missing),
        1 => Just(Shape::Unknown),
        1 => Just(Shape::Bom),
        1 => (0.0f64..1.0).prop_map(Shape::Truncated),
        1 => Just(Shape::InArray),
        1 => Just(Shape::Oversized),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Shape::Bytes),
    ]
}

fn body() -> impl Strategy<Value = Judged<Vec<u8>>> {
    (sku(), quantity(), customer_id(), any::<bool>(), shape()).prop_map(
        |((sku, sku_ok), (quantity, quantity_ok), (customer, customer_ok), escape, shape)| {
            let mut fields = vec![
                ("sku", sku),
                ("quantity", quantity),
                ("customer_id", json_string(&customer, escape)),
            ];
            let fields_ok = sku_ok && quantity_ok && customer_ok;
            let object = |fields: &[(&str, String)], gap: &str| {
                let members: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{gap}\"{k}\"{gap}:{gap}{v}{gap}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            };
            let (text, shape_ok) = match shape {
                Shape::AsIs => (object(&fields, ""), true),
                Shape::Reversed => {
                    fields.reverse();
                    (object(&fields, ""), true)
                }
                // At most 12 gaps of 60 bytes: padded, still far under the body limit.
                Shape::Padded(n) => (object(&fields, &" \t\n\r".repeat(n / 200)), true),
                Shape::Duplicate(i) => {
                    let copy = fields[i].clone();
                    fields.push(copy);
                    (object(&fields, ""), false)
                }
                Shape::Missing(i) => {
                    fields.remove(i);
                    (object(&fields, ""), false)
                }
                Shape::Unknown => {
                    fields.push(("price", "0".to_owned()));
                    (object(&fields, ""), false)
                }
                Shape::Bom => (format!("\u{FEFF}{}", object(&fields, "")), false),
                Shape::Truncated(at) => {
                    let full = object(&fields, "");
                    let mut cut = (full.len() as f64 * at) as usize;
                    while !full.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    (full[..cut].to_owned(), false)
                }
                Shape::InArray => (format!("[{}]", object(&fields, "")), false),
                Shape::Oversized => (object(&fields, &" ".repeat(1500)), false),
                Shape::Bytes(bytes) => return (bytes, false),
            };
            (text.into_bytes(), fields_ok && shape_ok)
        },
    )
}

fn headers() -> impl Strategy<Value = Judged<Vec<(String, Vec<u8>)>>> {
    let content_type = prop_oneof![
        6 => prop::sample::select(vec![
            "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
            "application/vnd.surge+json", "application/json;charset=\"utf-8\"",
        ])
        .prop_map(|ct| (Some(ct.to_owned()), true)),
        1 => prop::sample::select(vec!["text/plain", "application/xml", "application/jsonx", "json", ""])
            .prop_map(|ct| (Some(ct.to_owned()), false)),
        1 => Just((None, false)),
    ];
    let key = prop_oneof![
        4 => Just((vec![], true)),
        3 => "[!-~]{1,40}".prop_map(|k| (vec![k.into_bytes()], true)),
        1 => prop_oneof![
            Just(b"has space".to_vec()),
            Just(vec![b'k'; 256]),
            Just("\u{E9}t\u{E9}".as_bytes().to_vec()),
        ]
        .prop_map(|k| (vec![k], false)),
        1 => ("[!-~]{1,10}", "[!-~]{1,10}").prop_map(|(a, b)| (vec![a.into_bytes(), b.into_bytes()], false)),
    ];
    let traceparent = prop_oneof![
        2 => Just(None),
        2 => ("[0-9a-f]{32}", "[0-9a-f]{16}", "0[01]").prop_map(|(t, s, f)| Some(format!("00-{t}-{s}-{f}"))),
        1 => "[ -~]{0,100}".prop_map(Some),
        1 => (1usize..4000).prop_map(|n| Some("0".repeat(n))),
    ];
    let tracestate = prop_oneof![
        3 => Just(None),
        1 => prop::collection::vec("[a-z][a-z0-9_*/-]{0,10}=[!-+--<>-~]{1,40}", 1..60)
            .prop_map(|members| Some(members.join(","))),
        1 => "[ -~]{0,300}".prop_map(Some),
    ];
    let extra = prop::collection::vec(("x-[a-z]{1,12}", "[ -~]{0,100}"), 0..30);
    (content_type, key, traceparent, tracestate, extra).prop_map(
        |((content_type, ct_ok), (keys, key_ok), traceparent, tracestate, extra)| {
            let mut headers = Vec::new();
            if let Some(ct) = content_type {
                headers.push(("content-type".to_owned(), ct.into_bytes()));
            }
            for key in keys {
                headers.push(("idempotency-key".to_owned(), key));
            }
            if let Some(tp) = traceparent {
                headers.push(("traceparent".to_owned(), tp.into_bytes()));
            }
            if let Some(ts) = tracestate {
                headers.push(("tracestate".to_owned(), ts.into_bytes()));
            }
            for (name, value) in extra {
                headers.push((name, value.trim().to_owned().into_bytes()));
            }
            (headers, ct_ok && key_ok)
        },
    )
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (body(), headers()).prop_map(|((body, body_ok), (headers, headers_ok))| Hostile {
        body,
        headers,
        valid: body_ok && headers_ok,
    })
}

async fn send(app: &TestApp, request: &Hostile) -> Result<u16, String> {
    let mut builder = app
        .client
        .post(format!("{}/v1/orders", app.address))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        builder = builder.header(name.as_str(), value);
    }
    builder
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[test]
fn ten_thousand_hostile_requests_get_202_exactly_when_valid_and_only_those_are_published() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(spawn_app());
    let accepted = Cell::new(0i64);
    let sent = Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/hostile_requests.txt",
        ))),
        ..Config::default()
    });
    let batch = prop::collection::vec(hostile(), REQUESTS_PER_CASE);
    let outcome = runner.run(&batch, |requests| {
        let statuses: Vec<Result<u16, String>> = runtime.block_on(
            stream::iter(&requests)
                .map(|request| send(&app, request))
                .buffered(CONCURRENCY)
                .collect(),
        );
        for (request, status) in requests.iter().zip(statuses) {
            sent.set(sent.get() + 1);
            let shown = format!("{request:?}");
            let status = status.map_err(|e| TestCaseError::fail(format!("{e} for {shown}")))?;
            prop_assert!(status < 500, "{} for {}", status, shown);
            if request.valid {
                prop_assert_eq!(status, 202, "valid request refused: {}", shown);
                accepted.set(accepted.get() + 1);
            } else {
                prop_assert!(
                    (400..500).contains(&status) && status != 429,
                    "{} for invalid {}",
                    status,
                    shown
                );
            }
        }
        Ok(())
    });
    if let Err(error) = outcome {
        // The minimal failing batch is in the message; the request that failed is named
        // in the reason.
        let reason = match error {
            proptest::test_runner::TestError::Abort(reason) => reason.to_string(),
            proptest::test_runner::TestError::Fail(reason, batch) => {
                format!(
                    "{reason}\n(minimal failing batch: {} requests)",
                    batch.len()
                )
            }
        };
        panic!("a hostile request was not answered as its validity says: {reason}");
    }
    assert!(
        sent.get() >= 10_000,
        "only {} requests were generated",
        sent.get()
    );
    let accepted = accepted.get();
    eprintln!(
        "{} hostile requests, {accepted} of them valid and accepted",
        sent.get()
    );
    assert!(
        accepted > 1_000 && accepted < sent.get() as i64 - 1_000,
        "the generator's mix is off: {accepted} valid of {}",
        sent.get()
    );
    assert_eq!(
        app.end_offset(),
        accepted,
        "the topic holds exactly the accepted requests"
    );
}
