//! Mapping test files (`*.test.yaml`): what the schema cannot say, located, so `validate` reports a bad
//! `now`, time zone or resource at its line instead of `test` failing later without one.

use jiff::Timestamp;

use crate::{
    diag::{Diagnostic, did_you_mean, one_of},
    mapping::time::resolve_time_zone,
    spec::{
        TestSuite,
        tests::TestContext,
        yaml::{Document, pointer_push},
    },
};

/// Checks a test suite read from `doc`: its resource is one of `resources` (when known), and every
/// context's `tz` and `now` can be used.
pub fn check_suite(
    doc: &Document,
    suite: &TestSuite,
    resources: Option<&[String]>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(names) = resources
        && !names.is_empty()
        && !names.contains(&suite.resource)
    {
        out.push(
            doc.error(
                "/resource",
                format!(
                    "no mapping for resource `{}` in this directory",
                    suite.resource
                ),
            )
            .with_expected(one_of(names))
            .with_hint_opt(did_you_mean(&suite.resource, names)),
        );
    }
    context(doc, "/context", &suite.context, &mut out);
    for (i, case) in suite.cases.iter().enumerate() {
        if let Some(ctx) = &case.context {
            let at = pointer_push(&pointer_push("/cases", &i.to_string()), "context");
            context(doc, &at, ctx, &mut out);
        }
    }
    out
}

fn context(doc: &Document, at: &str, ctx: &TestContext, out: &mut Vec<Diagnostic>) {
    if let Some(tz) = &ctx.tz
        && resolve_time_zone(tz).is_none()
    {
        out.push(
            doc.error(&pointer_push(at, "tz"), format!("unknown time zone `{tz}`"))
                .with_expected(
                    "a Windows name such as `W. Europe Standard Time` or an IANA name such as `Europe/Berlin`",
                ),
        );
    }
    if let Some(now) = &ctx.now
        && let Err(err) = now.parse::<Timestamp>()
    {
        out.push(
            doc.error(
                &pointer_push(at, "now"),
                format!("`{now}` is not a point in time: {err}"),
            )
            .with_expected("an RFC 3339 time with its offset, such as `2025-03-01T08:00:00Z`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml;

    #[test]
    fn a_bad_now_tz_or_resource_is_located() {
        let text = "resource: evnt\ncontext: {tz: Mars Standard Time}\ncases:\n  - name: a\n    context: {now: yesterday}\n    input: {}\n    expect: {}\n";
        let doc = yaml::parse("event.test.yaml", text).unwrap();
        let suite: TestSuite = serde_json::from_value(doc.value.clone()).unwrap();
        let found: Vec<String> = check_suite(&doc, &suite, Some(&["event".into(), "task".into()]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].starts_with("event.test.yaml:1:11: error: no mapping for resource `evnt`")
        );
        assert!(
            found[0].contains("hint: did you mean `event`?"),
            "{}",
            found[0]
        );
        assert!(
            found[1]
                .starts_with("event.test.yaml:2:15: error: unknown time zone `Mars Standard Time`")
        );
        assert!(
            found[2].starts_with("event.test.yaml:5:20: error: `yesterday` is not a point in time")
        );
    }
}
