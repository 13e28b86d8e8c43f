//! The export as a page a person can read, print or save: plain HTML, no
//! scripts, no external resources, every value escaped.

use std::fmt::Write;

use super::rights::Export;

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
table{border-collapse:collapse;width:100%;margin-bottom:2rem}th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}\
caption{text-align:left;font-weight:bold;padding:.3rem 0}code{word-break:break-all}";

pub fn render(doc: &Export) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Your data</title><style>{STYLE}</style></head><body><main>\
         <h1>Everything we hold about you</h1>\
         <p>Generated {} for the pseudonym <code>{}</code> (we never store your email or customer number). \
         Policy version {}. Format: <code>{}</code>.</p>",
        when(doc.generated_at),
        esc(&doc.subject),
        doc.policy_version.map_or("none".into(), |v| v.to_string()),
        esc(&doc.schema)
    );

    h.push_str("<h2>Your choices</h2><table><caption>Current consent per purpose</caption><thead><tr><th scope=\"col\">Purpose</th><th scope=\"col\">State</th></tr></thead><tbody>");
    for (p, s) in &doc.consents.current {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(p), esc(s));
    }
    h.push_str("</tbody></table>");

    let _ = write!(h, "<table><caption>Consent records ({})</caption><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Purpose</th><th scope=\"col\">Choice</th><th scope=\"col\">Where</th><th scope=\"col\">Policy</th><th scope=\"col\">Data categories</th><th scope=\"col\">Ledger entry</th></tr></thead><tbody>", doc.consents.records.len());
    for r in &doc.consents.records {
        let rec = &r.record;
        let cats: Vec<&str> = rec.data_categories.iter().map(String::as_str).collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>#{}</td></tr>",
            when(rec.at.millis()),
            esc(rec.purpose.as_str()),
            esc(rec.state.as_str()),
            esc(rec.source.as_str()),
            rec.notice_version,
            esc(&cats.join(", ")),
            r.ledger_index
        );
    }
    h.push_str("</tbody></table>");

    h.push_str("<h2>Your profile</h2>");
    if doc.interests.is_empty() {
        h.push_str("<p>No interests have been inferred.</p>");
    } else {
        h.push_str("<table><caption>Interests</caption><thead><tr><th scope=\"col\">Category</th><th scope=\"col\">Strength</th><th scope=\"col\">Status</th></tr></thead><tbody>");
        for i in &doc.interests {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
                esc(&i.category),
                i.weight,
                if i.removed {
                    "removed by you"
                } else {
                    "in use"
                }
            );
        }
        h.push_str("</tbody></table>");
    }

    let _ = write!(h, "<h2>What you did</h2><table><caption>Events ({})</caption><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">When</th><th scope=\"col\">Type</th><th scope=\"col\">Item</th><th scope=\"col\">Purpose</th><th scope=\"col\">Details</th></tr></thead><tbody>", doc.events.len());
    for e in &doc.events {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.id,
            when(e.at),
            esc(&e.kind),
            esc(&match (&e.item_title, &e.item) {
                (Some(t), Some(i)) => format!("{t} ({i})"),
                (None, Some(i)) => i.clone(),
                _ => String::new(),
            }),
            esc(&e.purpose),
            esc(&e.properties.to_string())
        );
    }
    h.push_str("</tbody></table>");

    let _ = write!(h, "<h2>Proofs</h2><p>Each receipt proves an entry is in our public, append-only ledger. \
        Verify them with <code>fineline verify</code> or in the privacy center.</p>\
        <table><caption>Receipts ({})</caption><thead><tr><th scope=\"col\">Entry</th><th scope=\"col\">What</th><th scope=\"col\">Leaf hash</th></tr></thead><tbody>", doc.receipts.len());
    for r in &doc.receipts {
        let _ = write!(
            h,
            "<tr><td>#{}</td><td>{}</td><td><code>{}</code></td></tr>",
            r.leaf_index,
            esc(&r.entry.describe()),
            r.leaf_hash.to_hex()
        );
    }
    h.push_str("</tbody></table></main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            super::esc("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
