//! Retention definitions (`10s:6h`, `60:1440`) and whisper's archive-list
//! validation.
//!
//! There are two slightly different parsers upstream: whisper's (used by the
//! `whisper-*` tools) accepts any prefix of `seconds minutes hours days weeks
//! years` as a unit; carbon's (used for `storage-schemas.conf`) accepts
//! exactly one of `s m h d w y`. Both take a bare integer precision as
//! seconds and a bare integer duration as a number of points.

use super::WhisperError;

/// Which upstream parser to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionSyntax {
    /// whisper.py: unit = any prefix of the unit names; `a:b:c` keeps `b:c`
    /// as the duration (and then fails on it).
    Whisper,
    /// carbon/util.py: unit = one of `s m h d w y`; exactly one `:`.
    Carbon,
}

const UNITS: [(&str, u64); 6] = [
    ("seconds", 1),
    ("minutes", 60),
    ("hours", 3600),
    ("days", 86_400),
    ("weeks", 86_400 * 7),
    ("years", 86_400 * 365),
];

fn unit_seconds(unit: &str, syntax: RetentionSyntax) -> Result<u64, WhisperError> {
    let found = match syntax {
        RetentionSyntax::Whisper => UNITS.iter().find(|(name, _)| name.starts_with(unit)),
        RetentionSyntax::Carbon => UNITS
            .iter()
            .find(|(name, _)| unit.len() == 1 && name.starts_with(unit)),
    };
    found
        .map(|&(_, s)| s)
        .ok_or_else(|| WhisperError::InvalidConfiguration(format!("Invalid unit '{unit}'")))
}

/// `<digits><lowercase letters>` split into its two parts.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || unit.is_empty() || !unit.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    Some((digits.parse().ok()?, unit))
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// Parses one `precision:duration` item into `(seconds_per_point, points)`.
pub fn parse_retention_def(def: &str, syntax: RetentionSyntax) -> Result<(u32, u32), WhisperError> {
    let def = def.trim();
    let invalid_def =
        || WhisperError::InvalidConfiguration(format!("Invalid retention definition '{def}'"));
    let (precision, points) = match syntax {
        RetentionSyntax::Whisper => def.split_once(':').ok_or_else(invalid_def)?,
        RetentionSyntax::Carbon => {
            let mut parts = def.split(':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(p), Some(d), None) => (p, d),
                _ => return Err(invalid_def()),
            }
        }
    };
    let precision_secs: u64 = if all_digits(precision) {
        precision.parse().map_err(|_| {
            WhisperError::InvalidConfiguration(format!(
                "Invalid precision specification '{precision}'"
            ))
        })?
    } else {
        let (n, unit) = number_and_unit(precision).ok_or_else(|| {
            WhisperError::InvalidConfiguration(format!(
                "Invalid precision specification '{precision}'"
            ))
        })?;
        n.saturating_mul(unit_seconds(unit, syntax)?)
    };
    let point_count: u64 = if all_digits(points) {
        points.parse().map_err(|_| {
            WhisperError::InvalidConfiguration(format!(
                "Invalid retention specification '{points}'"
            ))
        })?
    } else {
        let (n, unit) = number_and_unit(points).ok_or_else(|| {
            WhisperError::InvalidConfiguration(format!(
                "Invalid retention specification '{points}'"
            ))
        })?;
        if precision_secs == 0 {
            return Err(WhisperError::InvalidConfiguration(format!(
                "Invalid precision specification '{precision}': zero seconds per point"
            )));
        }
        n.saturating_mul(unit_seconds(unit, syntax)?) / precision_secs
    };
    let spp = u32::try_from(precision_secs).map_err(|_| {
        WhisperError::InvalidConfiguration(format!("precision '{precision}' is too large"))
    })?;
    let pts = u32::try_from(point_count).map_err(|_| {
        WhisperError::InvalidConfiguration(format!("retention '{points}' has too many points"))
    })?;
    Ok((spp, pts))
}

/// Parses a comma-separated retention list (`10s:6h,1m:7d`) with carbon's rules.
pub fn parse_retentions(
    text: &str,
    syntax: RetentionSyntax,
) -> Result<Vec<(u32, u32)>, WhisperError> {
    text.split(',')
        .map(|d| parse_retention_def(d, syntax))
        .collect()
}

/// whisper's `validateArchiveList`: sorts by precision, then checks the five
/// rules, with whisper's messages. Also rejects zero steps, zero points and
/// files beyond Whisper's 4 GiB offsets, which whisper does not check.
pub fn validate_archive_list(archives: &mut [(u32, u32)]) -> Result<(), WhisperError> {
    let cfg = |m: String| Err(WhisperError::InvalidConfiguration(m));
    if archives.is_empty() {
        return cfg("You must specify at least one archive configuration!".into());
    }
    archives.sort_by_key(|a| a.0);
    for (i, a) in archives.iter().enumerate() {
        if a.0 == 0 || a.1 == 0 {
            return cfg(format!(
                "archive{i}: seconds per point and points must be positive ({}, {})",
                a.0, a.1
            ));
        }
    }
    for i in 0..archives.len().saturating_sub(1) {
        let (a, next) = (archives[i], archives[i + 1]);
        if a.0 >= next.0 {
            return cfg(format!(
                "A Whisper database may not be configured having two archives with the same precision (archive{i}: ({}, {}), archive{}: ({}, {}))",
                a.0, a.1, i + 1, next.0, next.1
            ));
        }
        if next.0 % a.0 != 0 {
            return cfg(format!(
                "Higher precision archives' precision must evenly divide all lower precision archives' precision (archive{i}: {}, archive{}: {})",
                a.0, i + 1, next.0
            ));
        }
        let retention = u64::from(a.0) * u64::from(a.1);
        let next_retention = u64::from(next.0) * u64::from(next.1);
        if next_retention <= retention {
            return cfg(format!(
                "Lower precision archives must cover larger time intervals than higher precision archives (archive{i}: {retention} seconds, archive{}: {next_retention} seconds)",
                i + 1
            ));
        }
        let per_consolidation = next.0 / a.0;
        if a.1 < per_consolidation {
            return cfg(format!(
                "Each archive must have at least enough points to consolidate to the next archive (archive{} consolidates {per_consolidation} of archive{i}'s points but it has only {} total points)",
                i + 1,
                a.1
            ));
        }
    }
    let size = super::format::header_size(archives.len()) as u64
        + archives
            .iter()
            .map(|a| u64::from(a.1) * super::format::POINT_SIZE as u64)
            .sum::<u64>();
    if size > u64::from(u32::MAX) {
        return cfg(format!(
            "the archives need {size} bytes, beyond whisper's 4 GiB file limit"
        ));
    }
    if archives
        .iter()
        .any(|a| a.0 as u64 * a.1 as u64 > u64::from(u32::MAX))
    {
        return cfg("an archive's retention exceeds whisper's 32-bit maxRetention".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RetentionSyntax::*;

    #[test]
    fn parses_both_syntaxes() {
        assert_eq!(parse_retention_def("10s:6h", Carbon).unwrap(), (10, 2160));
        assert_eq!(parse_retention_def("60:1440", Carbon).unwrap(), (60, 1440));
        assert_eq!(parse_retention_def(" 1m:7d ", Carbon).unwrap(), (60, 10080));
        assert_eq!(
            parse_retention_def("10m:5y", Carbon).unwrap(),
            (600, 262_800)
        );
        assert_eq!(
            parse_retention_def("1min:2hours", Whisper).unwrap(),
            (60, 120)
        );
        assert!(parse_retention_def("1min:2hours", Carbon).is_err());
        assert!(parse_retention_def("1M:2h", Whisper).is_err());
        assert!(parse_retention_def("10s", Whisper).is_err());
        assert!(parse_retention_def("10s:1h:2", Carbon).is_err());
        assert!(parse_retention_def("7s:1m", Whisper).is_ok_and(|r| r == (7, 8)));
    }

    #[test]
    fn validation_rules() {
        let mut ok = vec![(60, 1440), (10, 360)];
        validate_archive_list(&mut ok).unwrap();
        assert_eq!(ok, vec![(10, 360), (60, 1440)], "sorted by precision");
        for bad in [
            vec![],
            vec![(10, 10), (10, 20)],
            vec![(10, 100), (15, 1000)],
            vec![(10, 100), (20, 50)],
            vec![(10, 5), (60, 100)],
        ] {
            let mut bad = bad;
            assert!(validate_archive_list(&mut bad).is_err(), "{bad:?}");
        }
    }
}
