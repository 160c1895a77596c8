//! HTML mail made safe to show: no script, no event handler, no form, no remote request.
//! Three layers: ammonia keeps only harmless tags and attributes; images keep only inline
//! (`data:`) sources, so a tracker pixel is never fetched; the body is served in a
//! sandboxed frame under a CSP that allows no script and no remote load at all.

use std::collections::HashSet;

/// The Content-Security-Policy of a message body frame.
pub const BODY_CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
                            font-src data:; form-action 'none'; base-uri 'none'";
/// The same when the user asked to see this message's remote images: images only.
pub const BODY_CSP_REMOTE: &str = "default-src 'none'; img-src data: https: http:; \
                                   style-src 'unsafe-inline'; font-src data:; \
                                   form-action 'none'; base-uri 'none'";

/// Sanitised HTML of a mail body. Remote images are dropped unless `remote` (the user's
/// choice for this message); the count of those dropped is returned so the page can offer
/// to show them.
pub fn html(body: &str, remote: bool) -> (String, usize) {
    let blocked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = blocked.clone();
    let clean = ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto", "data"]))
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .add_tag_attributes("img", ["src", "alt", "width", "height"])
        .attribute_filter(move |element, attribute, value| {
            let shown = value.starts_with("data:image/")
                || remote && (value.starts_with("https://") || value.starts_with("http://"));
            match (element, attribute) {
                ("img", "src") if !shown => {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    None
                }
                // data: only for images: never a link to a data: document.
                (_, "href") if value.trim_start().to_ascii_lowercase().starts_with("data:") => None,
                _ => Some(value.into()),
            }
        })
        .clean(body)
        .to_string();
    (clean, blocked.load(std::sync::atomic::Ordering::Relaxed))
}

/// Text escaped for HTML.
pub fn escape(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_markup_is_removed() {
        let cases = [
            "<script>alert(1)</script>ok",
            "<img src=x onerror=alert(1)>ok",
            "<a href=\"javascript:alert(1)\">ok</a>",
            "<svg><script>alert(1)</script></svg>ok",
            "<form action=http://evil><input name=p></form>ok",
            "<iframe src=http://evil></iframe>ok",
            "<div style=\"background:url(http://evil/x)\">ok</div>",
            "<style>body{background:url(http://evil)}</style>ok",
            "<a href=\"data:text/html,<script>alert(1)</script>\">ok</a>",
            "<object data=http://evil></object><embed src=http://evil>ok",
            "<meta http-equiv=refresh content=\"0;url=http://evil\">ok",
            "<base href=http://evil/>ok",
        ];
        for c in cases {
            let (clean, _) = html(c, false);
            let low = clean.to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "javascript:",
                "<svg",
                "<form",
                "<input",
                "<iframe",
                "http://evil",
                "<style",
                "data:text",
                "<object",
                "<embed",
                "<meta",
                "<base",
            ] {
                assert!(!low.contains(bad), "{c:?} → {clean:?} still has {bad}");
            }
            assert!(clean.contains("ok"), "{c:?} lost its text: {clean:?}");
        }
    }

    #[test]
    fn remote_images_blocked_inline_kept() {
        let mail =
            "<img src=\"https://tracker.example/p.gif\"><img src=\"data:image/png;base64,AAAA\">";
        let (shown, kept) = html(mail, true);
        assert_eq!(kept, 0);
        assert!(
            shown.contains("https://tracker.example/p.gif"),
            "shown when asked"
        );
        let (clean, blocked) = html(mail, false);
        assert_eq!(blocked, 1);
        assert!(!clean.contains("tracker"));
        assert!(clean.contains("data:image/png"));
        let (link, _) = html("<a href=\"https://example.it\">x</a>", false);
        assert!(link.contains("rel=\"noopener noreferrer\""));
    }
}
