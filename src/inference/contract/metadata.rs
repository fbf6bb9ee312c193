//! Metadata of a model: its feature lists, scales and offsets against the tracker's, and its
//! graph parameters against the tracker's.

use super::*;

/// A comma-separated list of numbers under `key`, one per feature of `names` (listed under
/// `names_key`), each a `what` (`scale` or `offset`) that passes `ok`, described by `wanted`.
pub(super) fn read_numbers(
    key: &'static str,
    text: &str,
    (names, names_key): (&[&str], &str),
    (what, wanted): (&str, &str),
    ok: impl Fn(f64) -> bool,
) -> Result<Vec<f64>, ContractError> {
    let bad = |reason: String| ContractError::BadMetadata {
        key,
        value: text.to_string(),
        reason,
    };
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.len() != names.len() {
        return Err(bad(format!(
            "{} {what}s for {} features in `{names_key}`",
            items.len(),
            names.len()
        )));
    }
    items
        .iter()
        .zip(names)
        .map(|(item, name)| match item.parse::<f64>() {
            Ok(v) if ok(v) => Ok(v),
            _ => Err(bad(format!(
                "{what} `{item}` of feature `{name}` is not {wanted}"
            ))),
        })
        .collect()
}

/// Whether two values of a feature's scale or offset agree (relative tolerance 1e-6 of the
/// larger value or, for offsets near 0, of the feature's scale).
pub(crate) fn agree(model: f64, tracker: f64, scale: f64) -> bool {
    (model - tracker).abs() <= 1e-6 * model.abs().max(tracker.abs()).max(scale.abs())
}

/// The metadata keys of a feature list: names, scales, offsets.
pub(super) fn feature_keys(kind: FeatureKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        FeatureKind::Node => (KEY_NODE_FEATURES, KEY_NODE_SCALES, KEY_NODE_OFFSETS),
        FeatureKind::Edge => (KEY_EDGE_FEATURES, KEY_EDGE_SCALES, KEY_EDGE_OFFSETS),
    }
}

/// A feature list as a model declares it: names (non-empty, distinct), one positive scale each
/// and, when declared, one finite offset each.
pub(super) struct DeclaredFeatures {
    pub(super) names: Vec<String>,
    pub(super) scales: Vec<f64>,
    pub(super) offsets: Option<Vec<f64>>,
}

/// Reads `gnntrack.{kind}_features`, `_scales` (both required) and `_offsets`.
pub(super) fn parse_features(
    get: &dyn Fn(&'static str) -> Option<String>,
    kind: FeatureKind,
) -> Result<DeclaredFeatures, ContractError> {
    let (names_key, scales_key, offsets_key) = feature_keys(kind);
    let names_text = get(names_key).ok_or(ContractError::MissingMetadata { key: names_key })?;
    let scales_text = get(scales_key).ok_or(ContractError::MissingMetadata { key: scales_key })?;
    let names: Vec<&str> = names_text.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(ContractError::BadMetadata {
            key: names_key,
            value: names_text.clone(),
            reason: "expected comma-separated, non-empty feature names".into(),
        });
    }
    let mut seen = HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(**n)) {
        return Err(ContractError::BadMetadata {
            key: names_key,
            value: names_text.clone(),
            reason: format!("feature `{dup}` appears twice"),
        });
    }
    let scales = read_numbers(
        scales_key,
        &scales_text,
        (&names, names_key),
        ("scale", "a positive finite number"),
        |s| s.is_finite() && s > 0.0,
    )?;
    let offsets = match get(offsets_key) {
        Some(text) => Some(read_numbers(
            offsets_key,
            &text,
            (&names, names_key),
            ("offset", "a finite number"),
            f64::is_finite,
        )?),
        None => None,
    };
    Ok(DeclaredFeatures {
        names: names.iter().map(|n| n.to_string()).collect(),
        scales,
        offsets,
    })
}

/// The features a model declares, checked against the tracker's, and whether it declares
/// their offsets.
pub(super) fn read_features(
    get: &dyn Fn(&'static str) -> Option<String>,
    kind: FeatureKind,
    registry: &FeatureTable,
) -> Result<(Vec<FeatureSpec>, bool), ContractError> {
    let DeclaredFeatures {
        names,
        scales,
        offsets,
    } = parse_features(get, kind)?;
    let declared: Vec<FeatureSpec> = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            // Without declared offsets the tracker's are assumed (checked as equal below).
            let offset = match (&offsets, registry.get(kind, name)) {
                (Some(offsets), _) => offsets[k],
                (None, Some(tracker)) => tracker.offset,
                (None, None) => 0.0,
            };
            FeatureSpec::new(name.to_string(), offset, scales[k])
        })
        .collect();
    let out = check_features(&declared, kind, registry)?;
    Ok((out, offsets.is_some()))
}

/// Features declared by a model (names, scales, offsets), checked against the tracker's
/// registry: each must be one it computes, with its scale and offset. Returns them with the
/// tracker's unit and description.
pub fn check_features(
    declared: &[FeatureSpec],
    kind: FeatureKind,
    registry: &FeatureTable,
) -> Result<Vec<FeatureSpec>, ContractError> {
    let mut out = Vec::with_capacity(declared.len());
    for f in declared {
        let name = f.name.as_ref();
        let Some(tracker) = registry.get(kind, name) else {
            return Err(ContractError::UnknownFeature {
                kind,
                name: name.to_string(),
                known: registry.names(kind),
            });
        };
        let (scale, offset) = (f.scale, f.offset);
        if !agree(scale, tracker.scale, scale) {
            return Err(ContractError::ScaleMismatch {
                kind,
                name: name.to_string(),
                model: scale,
                tracker: tracker.scale,
            });
        }
        if !agree(offset, tracker.offset, scale) {
            return Err(ContractError::OffsetMismatch {
                kind,
                name: name.to_string(),
                model: offset,
                tracker: tracker.offset,
            });
        }
        out.push(FeatureSpec {
            offset,
            scale,
            ..tracker.clone()
        });
    }
    Ok(out)
}

/// Differences between the model's graph parameters and the tracker's, one line each, with
/// dotted paths for nested tables. Numbers compare with a relative tolerance of 1e-9 (an
/// integer equals the same float); a key on one side only is a difference.
pub fn compare_tables(model: &toml::Table, tracker: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    compare_into("", model, tracker, &mut out);
    out
}

pub(super) fn compare_into(
    prefix: &str,
    model: &toml::Table,
    tracker: &toml::Table,
    out: &mut Vec<String>,
) {
    let mut keys: Vec<&String> = model.keys().chain(tracker.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (model.get(key), tracker.get(key)) {
            (Some(toml::Value::Table(m)), Some(toml::Value::Table(t))) => {
                compare_into(&path, m, t, out)
            }
            (Some(m), Some(t)) => {
                if !values_equal(m, t) {
                    out.push(format!("`{path}`: model {m}, tracker {t}"));
                }
            }
            (Some(m), None) => out.push(format!("`{path}`: model {m}, not set in the tracker")),
            (None, Some(t)) => out.push(format!("`{path}`: not set in the model, tracker {t}")),
            (None, None) => {}
        }
    }
}

pub(super) fn values_equal(a: &toml::Value, b: &toml::Value) -> bool {
    use toml::Value as V;
    let num = |v: &V| match v {
        V::Integer(i) => Some(*i as f64),
        V::Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (V::Table(x), V::Table(y)) => compare_tables(x, y).is_empty(),
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
            _ => a == b,
        },
    }
}
