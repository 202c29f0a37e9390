//! Parsing and validation: every rule fails with the file, line and reason.

use sdf::parse;

const GOOD: &str = r#"<?xml version="1.0"?>
<system>
    <memory_region name="buf" size="0x1000" />
    <protection_domain name="server" priority="200" passive="true">
        <program_image path="server.elf" />
        <map mr="buf" vaddr="0x2000000" perms="rw" setvar_vaddr="buf" />
    </protection_domain>
    <protection_domain name="client" priority="100">
        <program_image path="client.elf" />
        <map mr="buf" vaddr="0x2000000" perms="r" setvar_vaddr="buf" />
        <protection_domain name="kid" priority="50" id="1">
            <program_image path="kid.elf" />
        </protection_domain>
    </protection_domain>
    <channel>
        <end pd="client" id="0" pp="true" />
        <end pd="server" id="3" />
    </channel>
</system>
"#;

fn error_of(xml: &str) -> String {
    match parse("sys.xml", xml).and_then(|s| s.validate().map(|_| s)) {
        Ok(_) => panic!("accepted:\n{xml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_good_system_parses_validates_and_round_trips() {
    let sys = parse("sys.xml", GOOD).unwrap();
    assert_eq!(sys.validate().unwrap(), Vec::<String>::new());
    assert_eq!(sys.pd("kid").unwrap().id, Some(1));
    assert_eq!(sys.parent_of("kid").unwrap().name, "client");
    let again = parse("sys.xml", &sys.to_xml("generated")).unwrap();
    assert_eq!(again.to_xml(""), sys.to_xml(""));
}

#[test]
fn each_rule_names_the_line_and_reason() {
    let cases = [
        (GOOD.replace("priority=\"200\"", "priority=\"100\""), "16:", "strictly higher priorities"),
        (GOOD.replace("<end pd=\"server\" id=\"3\" />", "<end pd=\"nobody\" id=\"3\" />"), "17:", "invalid PD name 'nobody'"),
        (GOOD.replace("id=\"3\"", "id=\"62\""), "17:", "channel id \"62\""),
        (GOOD.replace("id=\"3\"", "id=\"0x3\""), "17:", "not a decimal"),
        (GOOD.replace("<end pd=\"server\" id=\"3\" />", "<end pd=\"server\" id=\"3\" pp=\"true\" />"), "15:", "bidirectionally"),
        (GOOD.replace("name=\"kid\"", "name=\"server\""), "11:", "duplicate protection domain name 'server'"),
        (GOOD.replace("mr=\"buf\" vaddr=\"0x2000000\" perms=\"r\"", "mr=\"nope\" vaddr=\"0x2000000\" perms=\"r\""), "10:", "invalid memory region name 'nope'"),
        (GOOD.replace("vaddr=\"0x2000000\" perms=\"r\"", "vaddr=\"0x2000800\" perms=\"r\""), "10:", "not aligned"),
        (GOOD.replace("perms=\"r\"", "perms=\"w\""), "10:", "perms \"w\""),
        (GOOD.replace("size=\"0x1000\"", "size=\"0x1800\""), "3:", "not a multiple of the page size"),
        (GOOD.replace("<program_image path=\"kid.elf\" />", ""), "11:", "no <program_image>"),
        (GOOD.replace(" id=\"1\"", ""), "11:", "needs an 'id'"),
        (GOOD.replace("passive=\"true\"", "passive=\"yes\""), "4:", "not true or false"),
        (GOOD.replace("priority=\"200\"", "priority=\"255\""), "4:", "priority 255 is above 254"),
        (GOOD.replace("<channel>", "<channel colour=\"red\">"), "15:", "invalid attribute 'colour'"),
        (GOOD.replace("<memory_region", "<irq irq=\"3\" /><memory_region"), "3:", "unsupported element <irq>"),
        (GOOD.replace("</system>", "<channel><end pd=\"server\" id=\"3\" /><end pd=\"client\" id=\"7\" /></channel></system>"), "19:", "duplicate channel id: 3"),
        (GOOD.replace("<system>", "<sytem>").replace("</system>", "</sytem>"), "2:", "root element must be <system>"),
        (GOOD.replace("</system>", ""), "", "not XML"),
    ];
    for (xml, line, reason) in cases {
        let e = error_of(&xml);
        assert!(e.starts_with(&format!("sys.xml:{line}")), "want line {line}: {e}");
        assert!(e.contains(reason), "want {reason:?}: {e}");
    }
}

#[test]
fn overlapping_maps_are_refused() {
    let xml = GOOD.replace(
        "<map mr=\"buf\" vaddr=\"0x2000000\" perms=\"r\" setvar_vaddr=\"buf\" />",
        "<map mr=\"buf\" vaddr=\"0x2000000\" perms=\"r\" setvar_vaddr=\"a\" /><map mr=\"buf\" vaddr=\"0x2000000\" perms=\"r\" setvar_vaddr=\"b\" />",
    );
    assert!(error_of(&xml).contains("overlaps the map of 'buf'"));
}

#[test]
fn unused_regions_are_warnings() {
    let xml = GOOD.replace(
        "<memory_region name=\"buf\"",
        "<memory_region name=\"spare\" size=\"0x1000\" /><memory_region name=\"buf\"",
    );
    let warnings = parse("sys.xml", &xml).unwrap().validate().unwrap();
    assert_eq!(warnings, vec!["sys.xml:3:5: unused memory region 'spare'".to_string()]);
}
