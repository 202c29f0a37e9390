//! The isolation check: a description whose channels or regions join two
//! tenants' PDs (other than through wire and psdb in the roles their
//! configurations give) is refused, naming file, line and both tenants.

use std::collections::BTreeMap;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn committed() -> (String, BTreeMap<String, Vec<u8>>) {
    let xml = std::fs::read_to_string(root().join("system.xml")).unwrap();
    let system = sdf::parse("system.xml", &xml).unwrap();
    let configs = sysgen::isolation::configs(&system, root()).unwrap();
    (xml, configs)
}

fn check(xml: &str, configs: &BTreeMap<String, Vec<u8>>) -> Result<(), sdf::SdfError> {
    let system = sdf::parse("bad.xml", xml).unwrap();
    system.validate().unwrap();
    sysgen::isolation::check(&system, configs)
}

/// Puts `line` into PD `pd`'s element, after its program image.
fn add_to_pd(xml: &str, pd: &str, line: &str) -> String {
    let open = format!("<protection_domain name=\"{pd}\"");
    let at = xml.find(&open).unwrap();
    let image = at + xml[at..].find("/>").unwrap() + 2;
    format!("{}\n        {line}{}", &xml[..image], &xml[image..])
}

fn channel(a: &str, a_id: u8, a_pp: bool, b: &str, b_id: u8) -> String {
    let pp = if a_pp { " pp=\"true\"" } else { "" };
    format!(
        "    <channel>\n        <end pd=\"{a}\" id=\"{a_id}\"{pp} />\n        <end pd=\"{b}\" id=\"{b_id}\" />\n    </channel>\n</system>"
    )
}

#[test]
fn the_committed_system_passes() {
    let (xml, configs) = committed();
    check(&xml, &configs).unwrap();
}

#[test]
fn regions_and_channels_joining_two_tenants_are_refused_with_where_and_whom() {
    let (xml, configs) = committed();
    let map = |mr: &str, vaddr: &str, perms: &str| {
        format!("<map mr=\"{mr}\" vaddr=\"{vaddr}\" perms=\"{perms}\" setvar_vaddr=\"stolen\" />")
    };
    let cases = [
        (
            "acme's client maps globex's signing key",
            add_to_pd(&xml, "client_acme_identity", &map("key_globex", "0x30000000", "r")),
            &["key_globex", "globex", "acme"][..],
        ),
        (
            "a ledger maps another tenant's memory",
            add_to_pd(&xml, "ledger_acme", &map("lmem_globex", "0x30000000", "rw")),
            &["lmem_globex", "globex", "acme"],
        ),
        (
            "acme's client maps globex's client buffer",
            add_to_pd(
                &xml,
                "client_acme_identity",
                &map("cbuf_globex_payments", "0x30000000", "rw"),
            ),
            &["cbuf_globex_payments", "globex", "acme"],
        ),
        (
            "a client maps wire's private memory",
            add_to_pd(&xml, "client_acme_identity", &map("wmem", "0x30000000", "rw")),
            &["wmem", "private memory of 'wire'"],
        ),
        (
            "a channel between two tenants' clients",
            xml.replace(
                "</system>",
                &channel("client_acme_identity", 5, false, "client_globex_payments", 5),
            ),
            &["client_acme_identity", "client_globex_payments", "globex", "acme"],
        ),
        (
            "a client calling a ledger around wire",
            xml.replace("</system>", &channel("client_acme_identity", 5, true, "ledger_acme", 9)),
            &["ledger_acme", "a ledger talks only to"],
        ),
        (
            "a client holding identities of two tenants",
            // globex's payments identity (wire channel 6) given to acme's client.
            xml.replacen(
                "<end pd=\"client_globex_payments\" id=\"0\" pp=\"true\" />",
                "<end pd=\"client_acme_identity\" id=\"5\" pp=\"true\" />",
                1,
            ),
            &["client_acme_identity", "wire", "globex", "acme"],
        ),
    ];
    for (what, bad, words) in cases {
        assert_ne!(bad, xml, "{what}: the edit did not apply");
        let err = check(&bad, &configs).expect_err(what);
        let text = err.to_string();
        assert!(text.starts_with("bad.xml:") && err.line > 0, "{what}: {text}");
        for w in words {
            assert!(text.contains(w), "{what}: {text} does not name {w}");
        }
        assert!(!text.contains('\n'), "{what}: one line: {text}");
    }
}

/// The end of wire's channel to `ledger`, as system.xml writes it.
fn wire_end_to(xml: &str, ledger: &str) -> String {
    let at = xml.find(&format!("<end pd=\"{ledger}\" id=\"0\" />")).unwrap();
    let start = xml[..at].rfind("<end pd=\"wire\"").unwrap();
    xml[start..at].trim_end().to_string()
}

#[test]
fn a_wire_routing_to_another_tenants_ledger_is_refused() {
    let (xml, configs) = committed();
    // wire's configuration names a channel for each tenant's ledger: swap
    // the channels of acme's and globex's.
    let (acme, globex) = (wire_end_to(&xml, "ledger_acme"), wire_end_to(&xml, "ledger_globex"));
    let swapped = xml.replace(&acme, "SWAP").replace(&globex, &acme).replace("SWAP", &globex);
    assert_ne!(swapped, xml);
    let err = check(&swapped, &configs).expect_err("swapped ledgers").to_string();
    assert!(err.contains("acme") && err.contains("globex"), "{err}");
}

#[test]
fn a_configuration_of_another_pd_is_refused() {
    let (xml, mut configs) = committed();
    let wire = configs["wire"].clone();
    configs.insert("psdb".into(), wire);
    let err = check(&xml, &configs).expect_err("wire's configuration in psdb").to_string();
    assert!(err.contains("psdb") && err.contains("OtherPd"), "{err}");
}
