//! Whatever a device answers, at whatever OID under the planned columns, evaluation
//! returns: finite gauges, bounded warnings, every unusable value counted.

use std::sync::Arc;

use nocwatch_profile::{Fetched, Profile, Profiles, SampleValue};
use nocwatch_snmp::{Oid, OpaqueValue, Value};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::OctetString),
        "[ -~]{0,12}".prop_map(|s| Value::OctetString(s.into_bytes())),
        Just(Value::Null),
        proptest::collection::vec(any::<u32>(), 0..6).prop_map(|arcs| Value::ObjectId(Oid::new(arcs))),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Opaque),
        any::<f32>().prop_map(|f| Value::opaque(OpaqueValue::Float(f))),
        any::<f64>().prop_map(|f| Value::opaque(OpaqueValue::Double(f))),
        any::<u64>().prop_map(Value::Counter64),
        any::<u32>().prop_map(Value::UInteger32),
        Just(Value::NoSuchInstance),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..4)).prop_map(|(tag, data)| Value::Other { tag, data }),
    ]
}

/// (which planned OID, index suffix, value)
fn varbinds() -> impl Strategy<Value = Vec<(usize, Vec<u32>, Value)>> {
    proptest::collection::vec((any::<usize>(), proptest::collection::vec(any::<u32>(), 0..5), value()), 0..120)
}

fn bundled() -> &'static Profiles {
    static PROFILES: std::sync::OnceLock<Profiles> = std::sync::OnceLock::new();
    PROFILES.get_or_init(Profiles::bundled)
}

fn planned(profile: &Profile) -> Vec<Oid> {
    let plan = profile.plan();
    plan.scalars.iter().cloned().chain(plan.tables.iter().flat_map(|t| t.columns.iter().cloned())).collect()
}

fn check(profile: &Arc<Profile>, varbinds: &[(usize, Vec<u32>, Value)]) {
    let oids = planned(profile);
    let mut fetched = Fetched::new();
    for (which, suffix, value) in varbinds {
        let base = &oids[which % oids.len()];
        fetched.insert(base.child(suffix), value.clone());
    }
    let evaluation = profile.evaluate(&fetched);
    for sample in &evaluation.samples {
        if let SampleValue::Gauge(v) = sample.value {
            assert!(v.is_finite(), "{sample:?}");
        }
        assert!(sample.scale.is_finite());
        assert!(sample.tags.windows(2).all(|w| w[0] <= w[1]), "tags sorted: {:?}", sample.tags);
    }
    assert!(evaluation.warnings.len() <= 17);
    assert!(evaluation.unusable_values as usize + 1 >= evaluation.warnings.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn catalyst_evaluation_never_fails(varbinds in varbinds()) {
        let profile = bundled().get("cisco-catalyst").expect("catalyst");
        check(&profile, &varbinds);
    }

    #[test]
    fn srx_evaluation_never_fails(varbinds in varbinds()) {
        let profile = bundled().get("juniper-srx").expect("srx");
        check(&profile, &varbinds);
    }
}
