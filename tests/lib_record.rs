//! The record contract as the binaries see it: unknown fields pass through, fields keep order.

use sweep::jsonl::parse_record;
use sweep::Record;

#[test]
fn unknown_fields_pass_through_in_order() {
    let line = r#"{"index":3,"id":"abc","mode":"agg","parameters":{"slurm":{"agg_nodes":2,"agg_workers":1},"sglang":{"b":1.0,"a":true}},"zz_user":1,"aa_user":{"x":[1,2]}}"#;
    let r: Record = parse_record(line).unwrap();
    assert_eq!(r.extra.keys().collect::<Vec<_>>(), ["zz_user", "aa_user"]);
    assert!(r.status.state.is_none());
    let out = serde_json::to_string(&r).unwrap();
    assert_eq!(
        out, line,
        "a record without later-stage fields must round-trip byte for byte"
    );
}

#[test]
fn status_fields_are_not_duplicated_into_extra() {
    let line = r#"{"index":0,"id":"x","mode":"disagg","parameters":{"slurm":{},"sglang":{}},"job_id":"12","state":"FAILED","exit_code":"1:0"}"#;
    let r: Record = parse_record(line).unwrap();
    assert_eq!(r.status.state, Some(sweep::JobState::Failed));
    assert_eq!(r.status.state.as_ref().map(|s| s.as_str()), Some("FAILED"));
    assert!(r.extra.is_empty(), "extra: {:?}", r.extra);
}

#[test]
fn not_an_object_is_a_clear_error() {
    let e = parse_record::<Record>("[1,2]").unwrap_err();
    assert_eq!(e, "expected a JSON object, found an array");
    let e = parse_record::<Record>(r#"{"id":"x"}"#).unwrap_err();
    assert!(e.contains("missing field `index`"), "{e}");
}
